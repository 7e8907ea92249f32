"""Boards (weekly tumor conferences) and their dated sessions."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tumorboard.clock import BERLIN
from tumorboard.db import Base, enum_column
from tumorboard.disciplines.models import Discipline


class HolidayPolicy(enum.StrEnum):
    #: No session on an NRW public holiday (the row is kept with status ``holiday`` so planners see why).
    SKIP = "skip"
    #: The session takes place; it is flagged with the holiday's name.
    KEEP_FLAG = "keep_flag"


class QuorumKind(enum.StrEnum):
    ALL_OF = "all_of"
    ONE_OF = "one_of"


class SessionStatus(enum.StrEnum):
    PLANNED = "planned"
    CANCELLED = "cancelled"
    HOLIDAY = "holiday"


quorum_group_discipline = Table(
    "quorum_group_discipline",
    Base.metadata,
    Column("group_id", ForeignKey("quorum_group.id", ondelete="CASCADE"), primary_key=True),
    Column("discipline_id", ForeignKey("discipline.id", ondelete="RESTRICT"), primary_key=True),
)


class Board(Base):
    __tablename__ = "board"
    __table_args__ = (
        CheckConstraint("duration_minutes BETWEEN 5 AND 720", name="duration_range"),
        CheckConstraint("deadline_working_days BETWEEN 0 AND 10", name="deadline_days_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Full name, e.g. "Viszeralonkologisches Zentrum"; unique.
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: Short name used in lists, feeds and ``--board`` options, e.g. "Viszeral"; unique.
    short_name: Mapped[str] = mapped_column(String(40), unique=True)
    #: The certified center the board belongs to.
    center: Mapped[str] = mapped_column(String(200))
    #: RFC 5545 RRULE without DTSTART, e.g. ``FREQ=WEEKLY;BYDAY=TU``; validated by conferences.schedule.
    rrule: Mapped[str] = mapped_column(String(500))
    #: First day of the series (Berlin date); no session is generated before it.
    series_start: Mapped[dt.date]
    #: Start time of day, Europe/Berlin wall clock (kept across daylight-saving changes).
    start_time: Mapped[dt.time]
    duration_minutes: Mapped[int] = mapped_column(default=60)
    room: Mapped[str] = mapped_column(String(200), default="")
    video_url: Mapped[str] = mapped_column(String(500), default="")
    #: Registration deadline: this many working days (Mon–Fri, no NRW holiday) before the session ...
    deadline_working_days: Mapped[int] = mapped_column(default=1)
    #: ... at this Berlin time.
    deadline_time: Mapped[dt.time] = mapped_column(default=dt.time(12, 0))
    holiday_policy: Mapped[HolidayPolicy] = mapped_column(
        enum_column(HolidayPolicy, "holiday_policy"), default=HolidayPolicy.SKIP
    )
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]

    quorum_groups: Mapped[list[QuorumGroup]] = relationship(
        back_populates="board",
        order_by="QuorumGroup.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    @property
    def required_disciplines(self) -> set[str]:
        return {d.name for g in self.quorum_groups for d in g.disciplines}


class QuorumGroup(Base):
    """One rule of a board's quorum: all of these disciplines, or one of them, must be present."""

    __tablename__ = "quorum_group"
    __table_args__ = (UniqueConstraint("board_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"))
    position: Mapped[int]
    kind: Mapped[QuorumKind] = mapped_column(enum_column(QuorumKind, "quorum_kind"))

    board: Mapped[Board] = relationship(back_populates="quorum_groups")
    disciplines: Mapped[list[Discipline]] = relationship(
        secondary=quorum_group_discipline, order_by=Discipline.name, lazy="selectin"
    )


class ConferenceSession(Base):
    """One dated occurrence of a board (a Sitzung). Generated from the series or added as an extra."""

    __tablename__ = "conference_session"
    __table_args__ = (
        UniqueConstraint("board_id", "series_date"),
        Index("ix_conference_session_starts_at", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("status <> 'cancelled' OR cancel_reason IS NOT NULL", name="cancel_has_reason"),
        CheckConstraint("(series_date IS NULL) = is_extra", name="extra_has_no_series_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("board.id", ondelete="RESTRICT"))
    #: iCalendar UID, fixed at creation and never changed (a moved session keeps it).
    uid: Mapped[str] = mapped_column(String(120), unique=True)
    #: The series date this session was generated for (Berlin); NULL for extra sessions. Kept when moved,
    #: so regeneration never recreates a moved or cancelled occurrence.
    series_date: Mapped[dt.date | None]
    is_extra: Mapped[bool] = mapped_column(default=False)
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    #: Start before the first move; NULL if never moved.
    original_starts_at: Mapped[dt.datetime | None]
    status: Mapped[SessionStatus] = mapped_column(
        enum_column(SessionStatus, "session_status"), default=SessionStatus.PLANNED
    )
    #: Name of the NRW public holiday on that day, if any (German, from the ``holidays`` package).
    holiday_name: Mapped[str | None] = mapped_column(String(120))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    move_reason: Mapped[str | None] = mapped_column(Text)
    #: Note given when an extra session was added.
    note: Mapped[str | None] = mapped_column(Text)
    #: Room / video link for this session only; NULL means the board's.
    room_override: Mapped[str | None] = mapped_column(String(200))
    video_url_override: Mapped[str | None] = mapped_column(String(500))
    #: iCalendar SEQUENCE: raised on every change a calendar client must pick up (cancel, move).
    sequence: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    board: Mapped[Board] = relationship(lazy="joined")

    @property
    def room(self) -> str:
        return self.room_override if self.room_override is not None else self.board.room

    @property
    def video_url(self) -> str:
        return self.video_url_override if self.video_url_override is not None else self.board.video_url

    @property
    def local_start(self) -> dt.datetime:
        return self.starts_at.astimezone(BERLIN)

    @property
    def local_end(self) -> dt.datetime:
        return self.ends_at.astimezone(BERLIN)

    @property
    def is_moved(self) -> bool:
        return self.original_starts_at is not None

    @property
    def takes_place(self) -> bool:
        return self.status is SessionStatus.PLANNED
