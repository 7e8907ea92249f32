"""What became of a session (issue 11): its outcome, derived from the record, and the rhythm rules built on it.

Pure functions of their arguments: the facts that live in other domains (was attendance recorded, when was the
protocol first signed) are passed in by the caller (``tumorboard.qm.services.session_outcomes`` loads them for many
sessions in two queries), so conferences stays below attendance and protocol in the layers.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dateutil.rrule import MONTHLY, YEARLY

from tumorboard.clock import BERLIN
from tumorboard.conferences.models import Board, ConferenceSession, SessionStatus
from tumorboard.conferences.schedule import parse_rrule
from tumorboard.i18n import N_


class SessionOutcome(enum.StrEnum):
    """The outcome of one session, most specific first. Never stored: derived on every read from the session's
    status, its attendance and its protocol versions, so it cannot drift from the record."""

    #: Not over yet (ends after now), not cancelled.
    PLANNED = "geplant"
    #: Not over yet and moved away from its series date.
    MOVED = "verschoben"
    #: Cancelled, with the reason given when cancelling.
    CANCELLED = "abgesagt"
    #: The series skipped it for an NRW public holiday (board policy "skip"); not counted as planned.
    HOLIDAY = "feiertag"
    #: Attendance was recorded; the protocol is not signed yet.
    HELD = "durchgeführt"
    #: The protocol is signed (``at`` is the first signature).
    SIGNED = "protokolliert"
    #: Over, neither cancelled nor any attendance or protocol: the gap an auditor asks about.
    UNDOCUMENTED = "nicht dokumentiert"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def held(self) -> bool:
        return self in (SessionOutcome.HELD, SessionOutcome.SIGNED)

    @property
    def planned(self) -> bool:
        """Counts in the denominator of the held rate (H1) once over: every session but holiday exceptions."""
        return self is not SessionOutcome.HOLIDAY


_LABELS = {
    SessionOutcome.PLANNED: N_("geplant"),
    SessionOutcome.MOVED: N_("verschoben"),
    SessionOutcome.CANCELLED: N_("abgesagt"),
    SessionOutcome.HOLIDAY: N_("entfällt (Feiertag)"),
    SessionOutcome.HELD: N_("durchgeführt"),
    SessionOutcome.SIGNED: N_("protokolliert"),
    SessionOutcome.UNDOCUMENTED: N_("nicht dokumentiert"),
}


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: SessionOutcome
    #: For ``protokolliert``: when the protocol was first signed (UTC).
    at: dt.datetime | None = None
    #: For ``abgesagt``: the cancel reason; for ``feiertag``: the holiday's name.
    reason: str | None = None


def derive_outcome(
    cs: ConferenceSession, *, now: dt.datetime, attended: bool, signed_at: dt.datetime | None
) -> Outcome:
    """The outcome of ``cs`` at ``now``, given whether attendance was recorded and when the protocol was first
    signed. A cancellation wins over everything (a cancelled session cannot be held); a record of the session
    (attendance, signature) wins over the clock, so a session documented early is not "geplant"."""
    if cs.status is SessionStatus.CANCELLED:
        return Outcome(SessionOutcome.CANCELLED, reason=cs.cancel_reason)
    if cs.status is SessionStatus.HOLIDAY:
        return Outcome(SessionOutcome.HOLIDAY, reason=cs.holiday_name)
    if signed_at is not None:
        return Outcome(SessionOutcome.SIGNED, at=signed_at)
    if attended:
        return Outcome(SessionOutcome.HELD)
    if cs.ends_at > now:
        return Outcome(SessionOutcome.MOVED if cs.is_moved else SessionOutcome.PLANNED)
    return Outcome(SessionOutcome.UNDOCUMENTED)


# --- rhythm: weekly or monthly boards ----------------------------------------------------------------------------
class Rhythm(enum.StrEnum):
    """The unit in which a board is expected to meet: the held rate and the gaps are counted in it."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"

    @property
    def label(self) -> str:
        return N_("Woche") if self is Rhythm.WEEKLY else N_("Monat")


def rhythm_of(board: Board) -> Rhythm:
    """Monthly for FREQ=MONTHLY or YEARLY, weekly otherwise (daily and weekly rules)."""
    rule = parse_rrule(board.rrule, board.series_start)
    freq = rule._freq  # type: ignore[attr-defined]  # dateutil has no public accessor
    return Rhythm.MONTHLY if freq in (MONTHLY, YEARLY) else Rhythm.WEEKLY


def unit_start(day: dt.date, rhythm: Rhythm) -> dt.date:
    """First day of the week (Monday) or month containing ``day``."""
    if rhythm is Rhythm.MONTHLY:
        return day.replace(day=1)
    return day - dt.timedelta(days=day.weekday())


def _next_unit(start: dt.date, rhythm: Rhythm) -> dt.date:
    if rhythm is Rhythm.MONTHLY:
        return (start + dt.timedelta(days=32)).replace(day=1)
    return start + dt.timedelta(days=7)


def units(first: dt.date, last: dt.date, rhythm: Rhythm) -> Iterator[tuple[dt.date, dt.date]]:
    """The whole units (start, last day) inside ``first``..``last`` (inclusive): a period that starts mid-week
    leaves the partial week out, so a year's gaps never depend on which weekday 1 January is."""
    start = unit_start(first, rhythm)
    if start < first:
        start = _next_unit(start, rhythm)
    while True:
        following = _next_unit(start, rhythm)
        end = following - dt.timedelta(days=1)
        if end > last:
            return
        yield start, end
        start = following


@dataclass(frozen=True, slots=True)
class Gap:
    first: dt.date
    last: dt.date


def gaps(
    board: Board,
    rows: Iterable[tuple[ConferenceSession, Outcome]],
    *,
    first: dt.date,
    last: dt.date,
    today: dt.date,
) -> list[Gap]:
    """Units of the board's rhythm (weeks or months) in ``first``..``last`` that are over, in which the series or
    an extra session planned a conference that is not a holiday exception, and in which no session was held. A
    session moved to another week leaves its series week a gap (no conference took place that week); a week with
    nothing planned (holiday skipped, INTERVAL=2) is not one."""
    rhythm = rhythm_of(board)
    expected: set[dt.date] = set()
    held: set[dt.date] = set()
    for cs, outcome in rows:
        if cs.board_id != board.id:
            continue
        day = cs.local_start.date()
        if outcome.kind.planned:
            expected.add(unit_start(cs.series_date or day, rhythm))
        if outcome.kind.held:
            held.add(unit_start(day, rhythm))
    start_from = max(first, board.series_start)
    return [
        Gap(start, end)
        for start, end in units(start_from, min(last, today - dt.timedelta(days=1)), rhythm)
        if start in expected and start not in held
    ]


@dataclass(frozen=True, slots=True)
class HeldRate:
    planned: int
    held: int
    cancelled: int
    undocumented: int

    @property
    def rate(self) -> float | None:
        return self.held / self.planned if self.planned else None


def held_rate(rows: Iterable[tuple[ConferenceSession, Outcome]], *, now: dt.datetime) -> HeldRate:
    """H1 over sessions that are over (ended before ``now``): held / planned, planned = all but holiday
    exceptions. A moved session is one session (one row), counted where it took place."""
    planned = held = cancelled = undocumented = 0
    for cs, outcome in rows:
        if cs.ends_at > now and not outcome.kind.held:
            continue
        if not outcome.kind.planned:
            continue
        planned += 1
        held += outcome.kind.held
        cancelled += outcome.kind is SessionOutcome.CANCELLED
        undocumented += outcome.kind is SessionOutcome.UNDOCUMENTED
    return HeldRate(planned=planned, held=held, cancelled=cancelled, undocumented=undocumented)


def local_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(BERLIN).date()
