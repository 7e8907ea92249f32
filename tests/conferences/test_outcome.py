"""Session outcome and the rhythm rules (issue 11): pure functions, no database."""

from __future__ import annotations

import datetime as dt

import pytest

from tumorboard.clock import BERLIN
from tumorboard.conferences.models import Board, ConferenceSession, SessionStatus
from tumorboard.conferences.outcome import (
    Outcome,
    Rhythm,
    SessionOutcome,
    derive_outcome,
    gaps,
    held_rate,
    rhythm_of,
    units,
)

NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)


def _board(rrule: str = "FREQ=WEEKLY;BYDAY=TU", board_id: int = 1) -> Board:
    return Board(id=board_id, rrule=rrule, series_start=dt.date(2026, 1, 1))


def _session(day: dt.date, status: SessionStatus = SessionStatus.PLANNED, **kw: object) -> ConferenceSession:
    start = dt.datetime.combine(day, dt.time(15, 15), tzinfo=BERLIN).astimezone(dt.UTC)
    values: dict[str, object] = {
        "board_id": 1,
        "series_date": day,
        "starts_at": start,
        "ends_at": start + dt.timedelta(hours=1),
        "status": status,
    }
    values.update(kw)
    return ConferenceSession(**values)


def test_outcome_follows_the_record_most_specific_first():
    past, future = _session(dt.date(2026, 5, 5)), _session(dt.date(2026, 6, 9))
    signed = NOW - dt.timedelta(days=20)
    assert derive_outcome(past, now=NOW, attended=False, signed_at=None).kind is SessionOutcome.UNDOCUMENTED
    assert derive_outcome(past, now=NOW, attended=True, signed_at=None).kind is SessionOutcome.HELD
    assert derive_outcome(past, now=NOW, attended=True, signed_at=signed) == Outcome(SessionOutcome.SIGNED, at=signed)
    assert derive_outcome(future, now=NOW, attended=False, signed_at=None).kind is SessionOutcome.PLANNED
    moved = _session(dt.date(2026, 6, 9), original_starts_at=future.starts_at - dt.timedelta(days=1))
    assert derive_outcome(moved, now=NOW, attended=False, signed_at=None).kind is SessionOutcome.MOVED
    cancelled = _session(dt.date(2026, 5, 5), SessionStatus.CANCELLED, cancel_reason="Kongress")
    # A cancellation wins even over stray attendance rows.
    assert derive_outcome(cancelled, now=NOW, attended=True, signed_at=None) == Outcome(
        SessionOutcome.CANCELLED, reason="Kongress"
    )
    holiday = _session(dt.date(2026, 5, 5), SessionStatus.HOLIDAY, holiday_name="Pfingstmontag")
    assert derive_outcome(holiday, now=NOW, attended=False, signed_at=None) == Outcome(
        SessionOutcome.HOLIDAY, reason="Pfingstmontag"
    )
    # A session still running is not yet "nicht dokumentiert".
    running = _session(
        dt.date(2026, 6, 1), starts_at=NOW - dt.timedelta(minutes=5), ends_at=NOW + dt.timedelta(hours=1)
    )
    assert derive_outcome(running, now=NOW, attended=False, signed_at=None).kind is SessionOutcome.PLANNED


def test_outcome_values_are_the_german_words_of_the_issue():
    assert [o.value for o in SessionOutcome] == [
        "geplant", "verschoben", "abgesagt", "feiertag", "durchgeführt", "protokolliert", "nicht dokumentiert"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("FREQ=WEEKLY;BYDAY=TU", Rhythm.WEEKLY),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", Rhythm.WEEKLY),
        ("FREQ=MONTHLY;BYDAY=1WE", Rhythm.MONTHLY),
        ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", Rhythm.WEEKLY),
    ],
)
def test_rhythm_from_the_rrule(rule, expected):
    assert rhythm_of(_board(rule)) is expected


def test_units_are_whole_weeks_or_months_inside_the_period():
    weeks = list(units(dt.date(2026, 1, 1), dt.date(2026, 1, 31), Rhythm.WEEKLY))
    assert weeks[0] == (dt.date(2026, 1, 5), dt.date(2026, 1, 11)) and weeks[-1][1] == dt.date(2026, 1, 25)
    months = list(units(dt.date(2026, 1, 1), dt.date(2026, 12, 31), Rhythm.MONTHLY))
    assert len(months) == 12 and months[1] == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))


def _rows(board: Board, plan: dict[dt.date, SessionOutcome]) -> list[tuple[ConferenceSession, Outcome]]:
    return [(_session(day, board_id=board.id), Outcome(kind)) for day, kind in plan.items()]


def test_weekly_gaps_and_held_rate():
    board = _board()
    rows = _rows(
        board,
        {
            dt.date(2026, 3, 3): SessionOutcome.SIGNED,
            dt.date(2026, 3, 10): SessionOutcome.CANCELLED,
            dt.date(2026, 3, 17): SessionOutcome.HELD,
            dt.date(2026, 3, 24): SessionOutcome.UNDOCUMENTED,
            dt.date(2026, 3, 31): SessionOutcome.HOLIDAY,
        },
    )
    found = gaps(board, rows, first=dt.date(2026, 3, 1), last=dt.date(2026, 4, 5), today=NOW.date())
    assert [g.first for g in found] == [dt.date(2026, 3, 9), dt.date(2026, 3, 23)]  # the holiday week is excused
    rate = held_rate(rows, now=NOW)
    assert (rate.planned, rate.held, rate.cancelled, rate.undocumented) == (4, 2, 1, 1) and rate.rate == 0.5


def test_monthly_board_counts_months_not_weeks():
    board = _board("FREQ=MONTHLY;BYDAY=1WE")
    rows = _rows(
        board,
        {
            dt.date(2026, 2, 4): SessionOutcome.SIGNED,
            dt.date(2026, 3, 4): SessionOutcome.UNDOCUMENTED,
            dt.date(2026, 4, 1): SessionOutcome.HELD,
        },
    )
    found = gaps(board, rows, first=dt.date(2026, 2, 1), last=dt.date(2026, 4, 30), today=NOW.date())
    # A weekly rule would call three of every four weeks a gap; the monthly board has one gap: March.
    assert [(g.first, g.last) for g in found] == [(dt.date(2026, 3, 1), dt.date(2026, 3, 31))]


def test_a_session_moved_to_another_week_leaves_its_series_week_a_gap():
    board = _board()
    moved = _session(dt.date(2026, 3, 12), board_id=1, series_date=dt.date(2026, 3, 3))
    rows = [(moved, Outcome(SessionOutcome.HELD)), *_rows(board, {dt.date(2026, 3, 17): SessionOutcome.HELD})]
    found = gaps(board, rows, first=dt.date(2026, 3, 2), last=dt.date(2026, 3, 22), today=NOW.date())
    assert [g.first for g in found] == [dt.date(2026, 3, 2)]
