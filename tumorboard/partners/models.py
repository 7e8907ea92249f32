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
    #: Quiet period for studies that arrive by DICOM E-Mail (hundreds of mails over minutes, queued by mail
    #: servers): seconds, default 900 (15 minutes); set by admins.
    mail_quiet_period_seconds: Mapped[int] = mapped_column(default=900, server_default="900")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]

    endpoints: Mapped[list[PartnerEndpoint]] = relationship(
        back_populates="partner", order_by="PartnerEndpoint.id", cascade="all, delete-orphan"
    )
    mail_senders: Mapped[list[PartnerMailSender]] = relationship(
        back_populates="partner", order_by="PartnerMailSender.id", cascade="all, delete-orphan"
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


class PartnerMailSender(Base):
    """One DICOM E-Mail sender of a partner: its mail address and the OpenPGP key pinned for it. A mail is
    accepted only from a registered address of an active partner, signed by exactly that key."""

    __tablename__ = "partner_mail_sender"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    #: From address of the partner's mail gateway, lower-case (RFC 5321: at most 254 characters); unique.
    address: Mapped[str] = mapped_column(String(254), unique=True)
    #: Pinned OpenPGP v4 fingerprint of the signing (primary) key: 40 upper-case hex digits; set by admins.
    pgp_fingerprint: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime]

    partner: Mapped[Partner] = relationship(back_populates="mail_senders")
