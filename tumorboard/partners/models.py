"""Partner sites (hospitals, practices) that refer patients and send imaging over the teleradiology network."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tumorboard.db import Base


class Partner(Base):
    __tablename__ = "partner"
    __table_args__ = (CheckConstraint("quiet_period_seconds BETWEEN 5 AND 86400", name="quiet_period_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Site name, e.g. "Klinikum Nordstadt (Demo)"; unique; set by admins.
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: Contact for the coordinators (phone, e-mail of the partner's radiology or tumor documentation).
    contact: Mapped[str] = mapped_column(Text, default="")
    #: Seconds without a new instance after which a study counts as complete (provisionally); default 120.
    quiet_period_seconds: Mapped[int] = mapped_column(default=120)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]

    endpoints: Mapped[list[PartnerEndpoint]] = relationship(
        back_populates="partner", order_by="PartnerEndpoint.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Partner id={self.id}>"


class PartnerEndpoint(Base):
    """One DICOM sender of a partner: its calling AE title and the address or network it may connect from.
    An association is accepted only when both match one row of an active partner."""

    __tablename__ = "partner_endpoint"
    __table_args__ = (UniqueConstraint("ae_title", "network"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    #: Calling AE title of the partner's gateway (DICOM AE: 1–16 characters, no backslash); set by admins.
    ae_title: Mapped[str] = mapped_column(String(16), index=True)
    #: Allowed source: an IPv4/IPv6 address or network in CIDR notation, normalised ("10.1.2.0/24",
    #: "127.0.0.1/32"); set by admins.
    network: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]

    partner: Mapped[Partner] = relationship(back_populates="endpoints")
