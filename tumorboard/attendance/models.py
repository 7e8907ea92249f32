"""Attendance (Teilnehmerliste) of a conference session: who was there, how, from when to when, for whom."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tumorboard.auth.models import User
from tumorboard.conferences.models import ConferenceSession
from tumorboard.db import Base, enum_column


class AttendanceMode(enum.StrEnum):
    """How a person took part (DKG: video counts, a phone call without images does not)."""

    IN_PERSON = "in_person"  #: vor Ort
    VIDEO = "video"  #: per Videokonferenz


class Attendance(Base):
    """One person at one session: an account holder or an external participant (name, institution)."""

    __tablename__ = "attendance"
    __table_args__ = (
        CheckConstraint("left_at IS NULL OR left_at > arrived_at", name="leaves_after_arrival"),
        CheckConstraint("efn IS NULL OR length(efn) = 15", name="efn_length"),
        CheckConstraint("(stands_in_for_name IS NULL) = (stands_in_for_discipline IS NULL)", name="stand_in_pair"),
        Index("ix_attendance_session", "session_id"),
        # a person who left and came back has a second row (issue 13); the service refuses a second row while the
        # first is open
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("conference_session.id", ondelete="RESTRICT"))
    #: The account of the participant; NULL for external participants (other hospitals, practices).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    #: Name as printed on the Teilnehmerliste; copied from the account at check-in (kept if it is renamed later).
    name: Mapped[str] = mapped_column(String(200))
    #: Institution of an external participant ("Praxis Dr. X, Münster"); "" for our own staff.
    institution: Mapped[str] = mapped_column(String(200), default="")
    #: Fachrichtung at check-in (copied from the account, or given for externals); used for the quorum.
    discipline: Mapped[str] = mapped_column(String(120))
    #: Einheitliche Fortbildungsnummer (15 digits, Luhn) for the CME report; copied from the account or given.
    efn: Mapped[str | None] = mapped_column(String(15))
    mode: Mapped[AttendanceMode] = mapped_column(enum_column(AttendanceMode, "attendance_mode"))
    #: When the person joined (UTC), set at check-in (default: now); correctable until the protocol is signed.
    arrived_at: Mapped[dt.datetime]
    #: When the person left (UTC); NULL while present ("is present" vs "was present").
    left_at: Mapped[dt.datetime | None]
    #: "vertritt": the named colleague and the discipline this person stands in for; the quorum counts the person
    #: for that discipline.
    stands_in_for_name: Mapped[str | None] = mapped_column(String(200))
    stands_in_for_discipline: Mapped[str | None] = mapped_column(String(120))
    #: Who recorded the check-in (the coordinator, or the physician in a self check-in).
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    created_at: Mapped[dt.datetime]

    session: Mapped[ConferenceSession] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(foreign_keys=[user_id], lazy="joined")

    @property
    def counts_for(self) -> str:
        """The discipline this person covers in the quorum (a substitute counts for the one they stand in for)."""
        return self.stands_in_for_discipline or self.discipline

    @property
    def counts_for_quorum(self) -> bool:
        """False for a discipline outside the centre's list ("sonstige: …"): it never matches a quorum discipline."""
        return not self.counts_for.casefold().startswith("sonstige: ")

    @property
    def is_external(self) -> bool:
        return self.user_id is None

    def present_at(self, moment: dt.datetime) -> bool:
        return self.arrived_at <= moment and (self.left_at is None or self.left_at > moment)

    def __repr__(self) -> str:
        return f"<Attendance id={self.id} session={self.session_id}>"
