"""Local user accounts and their roles."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tumorboard.db import Base, enum_column
from tumorboard.disciplines.models import Discipline


class Role(enum.StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    PHYSICIAN = "physician"
    QM = "qm"


class User(Base):
    __tablename__ = "user_account"
    __table_args__ = (CheckConstraint("efn IS NULL OR length(efn) = 15", name="efn_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Login name, lower case, unique; chosen by the admin who creates the account.
    username: Mapped[str] = mapped_column(String(80), unique=True)
    #: Name shown in lists and protocols, e.g. "Dr. Anna Berger".
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"))
    #: Fachrichtung of a physician; required for role physician, used for the quorum.
    discipline_id: Mapped[int | None] = mapped_column(ForeignKey("discipline.id", ondelete="RESTRICT"))
    #: Einheitliche Fortbildungsnummer (CME), 15 digits with Luhn check digit; optional, set by admin or user.
    efn: Mapped[str | None] = mapped_column(String(15))
    #: Argon2id hash (argon2-cffi); never the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    #: Secret part of the personal calendar feed URL (calendar clients cannot log in); NULL when revoked.
    feed_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: UI language chosen by the user ("de" or "en").
    locale: Mapped[str] = mapped_column(String(5), default="de")
    created_at: Mapped[dt.datetime]

    discipline: Mapped[Discipline | None] = relationship(lazy="joined")
