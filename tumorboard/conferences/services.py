"""Boards and sessions: create and edit boards, generate sessions, cancel, move, add, find clashes.

Services validate, change, flush and write the audit event; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from sqlalchemy import Select, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from tumorboard import text as text_input
from tumorboard.audit.services import record_event, require_reason
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.clock import BERLIN, WallTime, wall_time
from tumorboard.conferences import schedule
from tumorboard.conferences.models import (
    Board,
    ConferenceSession,
    HolidayPolicy,
    QuorumGroup,
    SessionStatus,
)
from tumorboard.conferences.quorum import QuorumSpec, format_quorum
from tumorboard.disciplines.services import get_or_create_discipline
from tumorboard.errors import Conflict, InvalidInput, NotFound
from tumorboard.i18n import N_


@dataclass
class BoardInput:
    name: str
    short_name: str
    center: str
    rrule: str
    series_start: dt.date
    start_time: dt.time
    duration_minutes: int = 60
    room: str = ""
    video_url: str = ""
    deadline_working_days: int = 1
    deadline_time: dt.time = dt.time(12, 0)
    holiday_policy: HolidayPolicy = HolidayPolicy.SKIP
    quorum: list[QuorumSpec] = field(default_factory=list)

    @classmethod
    def from_board(cls, board: Board) -> BoardInput:
        return cls(
            name=board.name,
            short_name=board.short_name,
            center=board.center,
            rrule=board.rrule,
            series_start=board.series_start,
            start_time=board.start_time,
            duration_minutes=board.duration_minutes,
            room=board.room,
            video_url=board.video_url,
            deadline_working_days=board.deadline_working_days,
            deadline_time=board.deadline_time,
            holiday_policy=board.holiday_policy,
            quorum=quorum_of(board),
        )


def quorum_of(board: Board) -> list[QuorumSpec]:
    return [QuorumSpec(g.kind, tuple(d.name for d in g.disciplines)) for g in board.quorum_groups]


def quorum_text(board: Board) -> str:
    return format_quorum(quorum_of(board))


def _snapshot(board: Board) -> dict[str, Any]:
    return {
        "name": board.name,
        "short_name": board.short_name,
        "center": board.center,
        "rrule": board.rrule,
        "series_start": board.series_start,
        "start_time": board.start_time,
        "duration_minutes": board.duration_minutes,
        "room": board.room,
        "video_url": board.video_url,
        "deadline_working_days": board.deadline_working_days,
        "deadline_time": board.deadline_time,
        "holiday_policy": board.holiday_policy.value,
        "quorum": quorum_text(board),
    }


def _validate_board(session: Session, data: BoardInput, *, board_id: int | None) -> str:
    for attr, attr_label, limit, text in (
        ("name", N_("Der Name"), 200, N_("Bitte einen Namen angeben (höchstens 200 Zeichen).")),
        ("short_name", N_("Der Kurzname"), 40, N_("Bitte einen Kurznamen angeben (höchstens 40 Zeichen).")),
        ("center", N_("Das Zentrum"), 200, N_("Bitte das Zentrum angeben (höchstens 200 Zeichen).")),
    ):
        value = text_input.nfc(getattr(data, attr)).strip()
        setattr(data, attr, value)
        if not value or len(value) > limit:
            raise InvalidInput(text, field=attr)
        if text_input.has_control_characters(value):
            raise InvalidInput(
                N_("%(label)s darf keine Zeilenumbrüche oder Steuerzeichen enthalten."), field=attr, label=attr_label
            )
    if not 5 <= data.duration_minutes <= 720:
        raise InvalidInput(N_("Die Dauer muss zwischen 5 und 720 Minuten liegen."), field="duration_minutes")
    if not 0 <= data.deadline_working_days <= 10:
        raise InvalidInput(
            N_("Der Anmeldeschluss muss 0 bis 10 Arbeitstage vor der Sitzung liegen."), field="deadline_working_days"
        )
    data.room = text_input.single_line(data.room, field="room", label=N_("Der Raum"), limit=200)
    data.video_url = text_input.https_url(data.video_url, field="video_url", label=N_("Der Videolink"))
    for other_attr in ("name", "short_name"):
        clash = session.scalar(
            select(Board.id).where(getattr(Board, other_attr) == getattr(data, other_attr), Board.id != board_id)
        )
        if clash is not None:
            raise Conflict(
                N_("Eine andere Konferenz heißt schon „%(name)s“."), field=other_attr, name=getattr(data, other_attr)
            )
    return schedule.normalize_rrule(data.rrule, data.series_start)


def _apply(session: Session, board: Board, data: BoardInput, rule: str) -> None:
    board.name, board.short_name, board.center = data.name, data.short_name, data.center
    board.rrule, board.series_start, board.start_time = rule, data.series_start, data.start_time
    board.duration_minutes, board.room, board.video_url = data.duration_minutes, data.room, data.video_url
    board.deadline_working_days, board.deadline_time = data.deadline_working_days, data.deadline_time
    board.holiday_policy = data.holiday_policy
    if quorum_of(board) != data.quorum:
        board.quorum_groups.clear()
        session.flush()
        for position, spec in enumerate(data.quorum):
            board.quorum_groups.append(
                QuorumGroup(
                    position=position,
                    kind=spec.kind,
                    disciplines=[get_or_create_discipline(session, n) for n in spec.disciplines],
                )
            )


def create_board(session: Session, data: BoardInput, *, at: dt.datetime, actor: Actor) -> Board:
    """Create a board with its series and quorum; sessions follow with :func:`generate_sessions`."""
    rule = _validate_board(session, data, board_id=None)
    board = Board(created_at=at, active=True)
    session.add(board)
    _apply(session, board, data, rule)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CONFERENCE_BOARD_CREATE,
        subject_type=SubjectType.BOARD,
        subject_id=board.id,
        at=at,
        after=_snapshot(board),
    )
    return board


def update_board(
    session: Session, board: Board, data: BoardInput, *, at: dt.datetime, actor: Actor, horizon_weeks: int
) -> Board:
    """Change a board. Future generated sessions that nobody changed by hand follow the new series: they are
    re-timed, cancelled if the rule no longer has their date, and new dates are generated."""
    rule = _validate_board(session, data, board_id=board.id)
    before = _snapshot(board)
    _apply(session, board, data, rule)
    session.flush()
    after = _snapshot(board)
    if before == after:
        return board
    record_event(
        session,
        actor=actor,
        tag=Tag.CONFERENCE_BOARD_UPDATE,
        subject_type=SubjectType.BOARD,
        subject_id=board.id,
        at=at,
        before={k: v for k, v in before.items() if after[k] != v},
        after={k: v for k, v in after.items() if before[k] != v},
    )
    _realign_future_sessions(session, board, at=at, actor=actor, horizon_weeks=horizon_weeks)
    return board


def _realign_future_sessions(
    session: Session, board: Board, *, at: dt.datetime, actor: Actor, horizon_weeks: int
) -> None:
    today = at.astimezone(BERLIN).date()
    horizon = today + dt.timedelta(weeks=horizon_weeks)
    rows = session.scalars(
        select(ConferenceSession).where(
            ConferenceSession.board_id == board.id,
            ConferenceSession.is_extra.is_(False),
            ConferenceSession.original_starts_at.is_(None),
            ConferenceSession.status != SessionStatus.CANCELLED,
            ConferenceSession.starts_at > at,
        )
    ).all()
    last = max([horizon, *[r.series_date for r in rows if r.series_date]]) + dt.timedelta(days=1)
    wanted = set(schedule.occurrence_dates(board.rrule, board.series_start, today, last))
    for cs in rows:
        assert cs.series_date is not None
        before = _session_snapshot(cs)
        if cs.series_date not in wanted:
            cs.status = SessionStatus.CANCELLED
            cs.cancel_reason = "Serie der Konferenz geändert"
        else:
            _time_and_status(cs, board, cs.series_date)
        if _session_snapshot(cs) != before:
            cs.sequence += 1
            cs.updated_at = at
            record_event(
                session,
                actor=actor,
                tag=Tag.CONFERENCE_SESSION_REALIGN,
                subject_type=SubjectType.SESSION,
                subject_id=cs.id,
                at=at,
                before=before,
                after=_session_snapshot(cs),
            )
    generate_sessions(session, start=today, end=horizon, at=at, actor=actor, boards=[board])


def _time_and_status(cs: ConferenceSession, board: Board, day: dt.date) -> None:
    cs.starts_at = schedule.local_instant(day, board.start_time)
    cs.ends_at = cs.starts_at + dt.timedelta(minutes=board.duration_minutes)
    cs.holiday_name = schedule.holiday_name(day)
    if cs.status is not SessionStatus.CANCELLED:
        skip = cs.holiday_name is not None and board.holiday_policy is HolidayPolicy.SKIP
        cs.status = SessionStatus.HOLIDAY if skip else SessionStatus.PLANNED


def _session_snapshot(cs: ConferenceSession) -> dict[str, Any]:
    return {
        "starts_at": cs.starts_at,
        "ends_at": cs.ends_at,
        "status": cs.status.value,
        "holiday_name": cs.holiday_name,
    }


def new_uid() -> str:
    return f"{uuid.uuid4()}@tumorboard"


def generate_sessions(
    session: Session,
    *,
    start: dt.date,
    end: dt.date,
    at: dt.datetime,
    actor: Actor,
    boards: Sequence[Board] | None = None,
) -> list[ConferenceSession]:
    """Create the missing sessions of every active board for series dates in ``[start, end)``. Idempotent:
    a date that already has a session (planned, moved, cancelled or skipped) is left alone."""
    if boards is None:
        boards = session.scalars(select(Board).where(Board.active.is_(True)).order_by(Board.id)).all()
    created: list[ConferenceSession] = []
    for board in boards:
        dates = schedule.occurrence_dates(board.rrule, board.series_start, start, end)
        if not dates:
            continue
        existing = set(
            session.scalars(
                select(ConferenceSession.series_date).where(
                    ConferenceSession.board_id == board.id,
                    ConferenceSession.series_date >= dates[0],
                    ConferenceSession.series_date <= dates[-1],
                )
            )
        )
        for day in dates:
            if day in existing:
                continue
            cs = ConferenceSession(
                board=board,
                uid=new_uid(),
                series_date=day,
                is_extra=False,
                sequence=0,
                created_at=at,
                updated_at=at,
                status=SessionStatus.PLANNED,
            )
            _time_and_status(cs, board, day)
            session.add(cs)
            created.append(cs)
    session.flush()
    for cs in created:
        record_event(
            session,
            actor=actor,
            tag=Tag.CONFERENCE_SESSION_GENERATE,
            subject_type=SubjectType.SESSION,
            subject_id=cs.id,
            at=at,
            after={"board": cs.board.short_name, **_session_snapshot(cs)},
        )
    return created


def cancel_session(
    session: Session, cs: ConferenceSession, *, reason: str | None, at: dt.datetime, actor: Actor
) -> ConferenceSession:
    """Cancel one session (a reason is required, R1). Calendar clients see STATUS:CANCELLED, same UID."""
    text = require_reason(reason, N_("Bitte einen Grund für die Absage angeben."))
    if cs.status is SessionStatus.CANCELLED:
        raise Conflict(N_("Diese Sitzung ist bereits abgesagt."))
    if cs.status is SessionStatus.HOLIDAY:
        raise Conflict(N_("Diese Sitzung entfällt bereits wegen eines Feiertags."))
    before = _session_snapshot(cs)
    cs.status = SessionStatus.CANCELLED
    cs.cancel_reason = text
    _publish_change(session, cs, Tag.CONFERENCE_SESSION_CANCEL, before=before, reason=text, at=at, actor=actor)
    return cs


def _publish_change(
    session: Session,
    cs: ConferenceSession,
    tag: Tag,
    *,
    before: dict[str, Any],
    reason: str,
    at: dt.datetime,
    actor: Actor,
) -> None:
    """A change calendar clients must pick up: raise SEQUENCE (same UID), stamp, and audit it."""
    cs.sequence += 1
    cs.updated_at = at
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=tag,
        subject_type=SubjectType.SESSION,
        subject_id=cs.id,
        at=at,
        before=before,
        after=_session_snapshot(cs),
        reason=reason,
    )


def reinstate_session(
    session: Session, cs: ConferenceSession, *, reason: str | None, at: dt.datetime, actor: Actor
) -> ConferenceSession:
    """Undo a cancellation of a future session (e.g. cancelled by mistake)."""
    text = require_reason(reason, N_("Bitte einen Grund für die Wiederaufnahme angeben."))
    if cs.status is not SessionStatus.CANCELLED:
        raise Conflict(N_("Nur abgesagte Sitzungen können wieder aufgenommen werden."))
    if cs.starts_at <= at:
        raise InvalidInput(N_("Die Sitzung liegt in der Vergangenheit."))
    before = _session_snapshot(cs)
    cs.status = SessionStatus.PLANNED
    cs.cancel_reason = None
    _publish_change(session, cs, Tag.CONFERENCE_SESSION_REINSTATE, before=before, reason=text, at=at, actor=actor)
    return cs


def _future_start(day: dt.date, start: dt.time, at: dt.datetime) -> dt.datetime:
    kind = wall_time(day, start)
    shown = {"time": start.strftime("%H:%M"), "date": day.strftime("%d.%m.%Y")}
    if kind is WallTime.NONEXISTENT:
        raise InvalidInput(
            N_("%(time)s Uhr gibt es am %(date)s nicht (Umstellung auf Sommerzeit). Bitte eine andere Uhrzeit wählen."),
            field="start",
            **shown,
        )
    if kind is WallTime.AMBIGUOUS:
        raise InvalidInput(
            N_(
                "%(time)s Uhr gibt es am %(date)s zweimal (Umstellung auf Winterzeit). "
                "Bitte eine Uhrzeit vor 2:00 oder ab 3:00 Uhr wählen."
            ),
            field="start",
            **shown,
        )
    instant = schedule.local_instant(day, start)
    if instant <= at:
        raise InvalidInput(N_("Der neue Termin liegt in der Vergangenheit."), field="date")
    if instant > at + dt.timedelta(days=3 * 366):
        raise InvalidInput(N_("Der Termin liegt mehr als drei Jahre in der Zukunft."), field="date")
    return instant


def move_session(
    session: Session,
    cs: ConferenceSession,
    *,
    day: dt.date,
    start: dt.time,
    reason: str | None,
    at: dt.datetime,
    actor: Actor,
    duration_minutes: int | None = None,
) -> ConferenceSession:
    """Move one session to another date/time (Berlin). It keeps its UID; SEQUENCE is raised."""
    text = require_reason(reason, N_("Bitte einen Grund für die Verschiebung angeben."))
    if cs.status is not SessionStatus.PLANNED:
        raise Conflict(N_("Nur geplante Sitzungen können verschoben werden."))
    new_start = _future_start(day, start, at)
    minutes = duration_minutes or int((cs.ends_at - cs.starts_at).total_seconds() // 60)
    if not 5 <= minutes <= 720:
        raise InvalidInput(N_("Die Dauer muss zwischen 5 und 720 Minuten liegen."), field="duration_minutes")
    if new_start == cs.starts_at and cs.ends_at - cs.starts_at == dt.timedelta(minutes=minutes):
        raise InvalidInput(N_("Der neue Termin ist derselbe wie der alte."), field="date")
    before = _session_snapshot(cs)
    if cs.original_starts_at is None:
        cs.original_starts_at = cs.starts_at
    cs.starts_at = new_start
    cs.ends_at = new_start + dt.timedelta(minutes=minutes)
    cs.holiday_name = schedule.holiday_name(day)
    cs.move_reason = text
    _publish_change(session, cs, Tag.CONFERENCE_SESSION_MOVE, before=before, reason=text, at=at, actor=actor)
    return cs


def add_extra_session(
    session: Session,
    board: Board,
    *,
    day: dt.date,
    start: dt.time,
    at: dt.datetime,
    actor: Actor,
    duration_minutes: int | None = None,
    note: str | None = None,
) -> ConferenceSession:
    """Add a session outside the series (Sondersitzung)."""
    instant = _future_start(day, start, at)
    minutes = duration_minutes or board.duration_minutes
    if not 5 <= minutes <= 720:
        raise InvalidInput(N_("Die Dauer muss zwischen 5 und 720 Minuten liegen."), field="duration_minutes")
    cs = ConferenceSession(
        board=board,
        uid=new_uid(),
        series_date=None,
        is_extra=True,
        starts_at=instant,
        ends_at=instant + dt.timedelta(minutes=minutes),
        status=SessionStatus.PLANNED,
        holiday_name=schedule.holiday_name(day),
        note=text_input.single_line(note or "", field="note", label=N_("Der Anlass"), limit=1000) or None,
        sequence=0,
        created_at=at,
        updated_at=at,
    )
    session.add(cs)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CONFERENCE_SESSION_ADD,
        subject_type=SubjectType.SESSION,
        subject_id=cs.id,
        at=at,
        after={"board": board.short_name, **_session_snapshot(cs)},
        reason=cs.note,
    )
    return cs


def get_board(session: Session, board_id: int) -> Board:
    board = session.get(Board, board_id)
    if board is None:
        raise NotFound(N_("Diese Konferenz gibt es nicht."))
    return board


def find_board(session: Session, name: str) -> Board:
    """By short name or full name, case-insensitive (for ``--board NAME``)."""
    needle = name.strip().lower()
    for board in session.scalars(select(Board)):
        if needle in (board.short_name.lower(), board.name.lower()):
            return board
    raise NotFound(N_("Keine Konferenz heißt „%(name)s“."), name=name)


def list_boards(session: Session) -> Sequence[Board]:
    return session.scalars(select(Board).where(Board.active.is_(True)).order_by(Board.name)).all()


def get_session(session: Session, session_id: int) -> ConferenceSession:
    cs = session.get(ConferenceSession, session_id)
    if cs is None:
        raise NotFound(N_("Diese Sitzung gibt es nicht."))
    return cs


def sessions_between(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    *,
    board: Board | None = None,
    include_holidays: bool = True,
) -> Sequence[ConferenceSession]:
    query = _between(select(ConferenceSession), start, end, board=board, include_holidays=include_holidays)
    return session.scalars(query.order_by(ConferenceSession.starts_at, ConferenceSession.board_id)).all()


def _between(
    query: Select[Any], start: dt.datetime, end: dt.datetime, *, board: Board | None, include_holidays: bool
) -> Select[Any]:
    query = query.where(ConferenceSession.starts_at >= start, ConferenceSession.starts_at < end)
    if board is not None:
        query = query.where(ConferenceSession.board_id == board.id)
    if not include_holidays:
        query = query.where(ConferenceSession.status != SessionStatus.HOLIDAY)
    return query


def sessions_fingerprint(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    *,
    board: Board | None = None,
    include_holidays: bool = True,
) -> str:
    """A digest of every stored value of the sessions :func:`sessions_between` returns, and of their boards: equal
    digests, equal sessions. A calendar feed is cached and answered 304 by it (issue 16). Computed from the rows
    themselves, not from ``updated_at``: a board's room or name reaches all of its sessions without changing them,
    and two changes may carry the same time."""
    # the values as the driver returns them: no type conversion per value (about 800 values per feed request)
    columns: list[Any] = [type_coerce(c, NullType()) for c in (*ConferenceSession.__table__.c, *Board.__table__.c)]
    query = _between(
        select(*columns).select_from(ConferenceSession).join(Board),
        start,
        end,
        board=board,
        include_holidays=include_holidays,
    )
    digest = hashlib.sha256()
    for row in session.connection().execute(query.order_by(ConferenceSession.id)):
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def day_range(first: dt.date, last_exclusive: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Berlin calendar days as a UTC interval."""
    return (schedule.local_instant(first, dt.time()), schedule.local_instant(last_exclusive, dt.time()))


def registration_deadline(cs: ConferenceSession) -> dt.datetime:
    return schedule.registration_deadline(cs.local_start.date(), cs.board.deadline_working_days, cs.board.deadline_time)


@dataclass(frozen=True)
class Clash:
    first: ConferenceSession
    second: ConferenceSession
    shared: tuple[str, ...]


def find_clashes(session: Session, start: dt.datetime, end: dt.datetime) -> list[Clash]:
    """Planned sessions of different boards that overlap in time and share a required discipline: one
    radiologist or pathologist cannot be in both rooms."""
    rows = [cs for cs in sessions_between(session, start, end) if cs.takes_place]
    clashes: list[Clash] = []
    for a, b in combinations(rows, 2):
        if a.board_id == b.board_id or not schedule.overlaps(a.starts_at, a.ends_at, b.starts_at, b.ends_at):
            continue
        shared = a.board.required_disciplines & b.board.required_disciplines
        if shared:
            clashes.append(Clash(a, b, tuple(sorted(shared))))
    return clashes
