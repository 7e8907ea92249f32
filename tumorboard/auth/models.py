"""Local user accounts and their roles."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
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
    #: Counts up at every logout; a login session remembers the value it started with and ends when they differ
    #: (server-side logout of signed cookie sessions).
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    discipline: Mapped[Discipline | None] = relationship(lazy="joined")


class ThrottleScope(enum.StrEnum):
    #: One client address, whatever user names it tries.
    ADDRESS = "address"
    #: One user name, from any address (slow guessing spread over many addresses).
    ACCOUNT = "account"
    #: One user name from one address: the tight limit, which a stranger elsewhere cannot trip for the owner.
    ACCOUNT_ADDRESS = "account_address"


class PasswordThrottle(Base):
    """Failed password checks, one row per scope and key, updated in place.

    Attempts refused while a delay runs are only counted here (``refused``), not written to the audit log one
    by one, so anonymous requests cannot grow the append-only audit table without bound."""

    __tablename__ = "password_throttle"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[ThrottleScope] = mapped_column(enum_column(ThrottleScope, "throttle_scope"))
    #: Lower-case user name, client address, or both joined by a space (user names contain no space).
    key: Mapped[str] = mapped_column(String(200))
    #: Failures since ``first_failure_at``; starts again after a quiet window or a successful check.
    failures: Mapped[int] = mapped_column(default=0)
    first_failure_at: Mapped[dt.datetime]
    last_failure_at: Mapped[dt.datetime]
    #: No password is checked for this key before this instant (UTC); NULL while under the free attempts.
    blocked_until: Mapped[dt.datetime | None]
    #: Attempts refused during a delay since the last failure that was checked.
    refused: Mapped[int] = mapped_column(default=0)
