"""Partner sites (hospitals, practices) that refer patients and send imaging over the teleradiology network."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

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
