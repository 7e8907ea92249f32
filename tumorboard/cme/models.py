"""CME accreditation (VNR, category, points, accredited period) per board and session, and the state of each
attendee's electronic report to the chamber (EIV)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tumorboard.attendance.models import Attendance
from tumorboard.db import Base, enum_column
from tumorboard.i18n import N_


class CmeAccreditation(Base):
    """What the chamber's accreditation letter says. A row with ``board_id`` holds a board's defaults (category,
    points, usually no VNR); a row with ``session_id`` holds one session's accreditation (its VNR: the chambers
    keep one record per EFN and VNR, so a weekly board needs one VNR per session). A session without a row of its
    own uses its board's defaults."""

    __tablename__ = "cme_accreditation"
    __table_args__ = (
        CheckConstraint("(board_id IS NULL) <> (session_id IS NULL)", name="board_or_session"),
        CheckConstraint("vnr IS NULL OR length(vnr) = 19", name="vnr_length"),
        CheckConstraint("points BETWEEN 0 AND 99", name="points_range"),
        CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_to >= valid_from", name="period_order"),
        Index("uq_cme_accreditation_board", "board_id", unique=True),
        Index("uq_cme_accreditation_session", "session_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int | None] = mapped_column(ForeignKey("board.id", ondelete="RESTRICT"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("conference_session.id", ondelete="RESTRICT"))
    #: Veranstaltungsnummer: 19 digits starting 276 (a failed check digit is a warning, qm.md).
    vnr: Mapped[str | None] = mapped_column(String(19))
    #: Category of the chamber's catalogue (a tumor board is usually "C", case conference).
    category: Mapped[str] = mapped_column(String(2))
    #: Points per attendance as accredited (basis points, bonus included).
    points: Mapped[int]
    #: Accredited period (a push for a date outside it is refused by the chamber, 406).
    valid_from: Mapped[dt.date | None]
    valid_to: Mapped[dt.date | None]
    updated_at: Mapped[dt.datetime]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))


class EivState(enum.StrEnum):
    #: Waiting for the (next) push; ``next_attempt_at`` says when (retry after 500, 429 or no connection).
    PENDING = "pending"
    #: 200 with the basis flag: the chamber holds the attendance.
    STORED = "stored"
    #: 200 with both flags false: withdrawn at the chamber after a correction.
    WITHDRAWN = "withdrawn"
    #: 406: refused for business reasons (unknown or closed VNR, date outside the accredited period).
    REFUSED = "refused"
    #: 422: malformed (EFN check digit, range); needs a corrected EFN, never retried as is.
    MALFORMED = "malformed"

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]


_STATE_LABELS = {
    EivState.PENDING: N_("ausstehend"),
    EivState.STORED: N_("gespeichert"),
    EivState.WITHDRAWN: N_("zurückgezogen"),
    EivState.REFUSED: N_("abgelehnt"),
    EivState.MALFORMED: N_("fehlerhaft"),
}


class EivSubmission(Base):
    """One attendee's report for one session (the chambers keep one record per EFN and VNR)."""

    __tablename__ = "cme_eiv_submission"
    __table_args__ = (
        Index("uq_cme_eiv_submission_attendance", "attendance_id", unique=True),
        Index("ix_cme_eiv_submission_session", "session_id"),
        Index("ix_cme_eiv_submission_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("conference_session.id", ondelete="RESTRICT"))
    attendance_id: Mapped[int] = mapped_column(ForeignKey("attendance.id", ondelete="RESTRICT"))
    efn: Mapped[str] = mapped_column(String(15))
    vnr: Mapped[str] = mapped_column(String(19))
    #: What the chamber should hold: True = the attendance counts (basis points), False = withdrawn (correction).
    credited: Mapped[bool] = mapped_column(default=True)
    #: Why ``credited`` was changed (attendance correction), else NULL.
    correction_reason: Mapped[str | None] = mapped_column(Text)
    state: Mapped[EivState] = mapped_column(enum_column(EivState, "eiv_state"), default=EivState.PENDING)
    #: The last HTTP status (NULL before the first attempt or when the connection failed).
    http_status: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[dt.datetime | None]
    next_attempt_at: Mapped[dt.datetime | None]
    #: Last result in German (shown to QM); never patient data.
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    attendance: Mapped[Attendance] = relationship(lazy="joined")
