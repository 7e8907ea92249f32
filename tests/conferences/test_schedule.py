"""Pure schedule logic: recurrence, daylight saving, NRW holidays, deadlines."""

from __future__ import annotations

import datetime as dt

import pytest

from tumorboard.clock import BERLIN
from tumorboard.conferences import schedule
from tumorboard.errors import InvalidInput

START = dt.date(2026, 1, 5)


def test_weekly_rule_gives_each_tuesday():
    days = schedule.occurrence_dates("FREQ=WEEKLY;BYDAY=TU", START, dt.date(2027, 3, 1), dt.date(2027, 4, 1))
    assert days == [
        dt.date(2027, 3, 2),
        dt.date(2027, 3, 9),
        dt.date(2027, 3, 16),
        dt.date(2027, 3, 23),
        dt.date(2027, 3, 30),
    ]


def test_range_is_half_open_and_never_before_series_start():
    assert schedule.occurrence_dates("FREQ=WEEKLY;BYDAY=MO", START, dt.date(2025, 12, 1), dt.date(2026, 1, 12)) == [
        dt.date(2026, 1, 5)
    ]
    assert schedule.occurrence_dates("FREQ=WEEKLY;BYDAY=MO", START, dt.date(2026, 1, 12), dt.date(2026, 1, 12)) == []


def test_biweekly_and_until_are_honoured():
    days = schedule.occurrence_dates(
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;UNTIL=20260216T000000Z", START, START, dt.date(2026, 6, 1)
    )
    assert days == [dt.date(2026, 1, 5), dt.date(2026, 1, 19), dt.date(2026, 2, 2), dt.date(2026, 2, 16)]


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [(dt.date(2027, 3, 23), 14), (dt.date(2027, 3, 30), 13), (dt.date(2027, 11, 2), 14), (dt.date(2027, 10, 26), 13)],
)
def test_local_time_is_kept_across_daylight_saving(day, utc_hour):
    instant = schedule.local_instant(day, dt.time(15, 15))
    assert instant.tzinfo == dt.UTC
    assert (instant.hour, instant.minute) == (utc_hour, 15)
    assert instant.astimezone(BERLIN).time() == dt.time(15, 15)


def test_nonexistent_spring_forward_time_moves_forward():
    instant = schedule.local_instant(dt.date(2027, 3, 28), dt.time(2, 30))
    assert instant.astimezone(BERLIN).time() == dt.time(3, 30)


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (dt.date(2027, 3, 29), "Ostermontag"),
        (dt.date(2027, 5, 6), "Christi Himmelfahrt"),
        (dt.date(2027, 5, 27), "Fronleichnam"),
        (dt.date(2026, 11, 1), "Allerheiligen"),
        (dt.date(2026, 12, 25), "Erster Weihnachtstag"),
    ],
)
def test_nrw_holidays(day, name):
    assert schedule.holiday_name(day) == name


def test_holidays_of_other_states_are_not_nrw_holidays():
    assert schedule.holiday_name(dt.date(2027, 1, 6)) is None  # Heilige Drei Könige: BW, BY, ST only
    assert schedule.holiday_name(dt.date(2026, 10, 31)) is None  # Reformationstag: not NRW
    assert schedule.holiday_name(dt.date(2027, 3, 30)) is None


def test_deadline_is_working_day_before_at_noon():
    deadline = schedule.registration_deadline(dt.date(2027, 3, 2), 1, dt.time(12, 0))
    assert deadline.astimezone(BERLIN) == dt.datetime(2027, 3, 1, 12, 0, tzinfo=BERLIN)


def test_deadline_skips_weekend_and_easter():
    # Tuesday after Easter: Monday is Ostermontag, Friday Karfreitag -> Thursday 25 March
    deadline = schedule.registration_deadline(dt.date(2027, 3, 30), 1, dt.time(12, 0))
    assert deadline.astimezone(BERLIN) == dt.datetime(2027, 3, 25, 12, 0, tzinfo=BERLIN)
    # Monday board: previous working day is Friday
    deadline = schedule.registration_deadline(dt.date(2027, 3, 8), 1, dt.time(12, 0))
    assert deadline.astimezone(BERLIN).date() == dt.date(2027, 3, 5)


def test_deadline_zero_days_is_same_day():
    deadline = schedule.registration_deadline(dt.date(2027, 3, 8), 0, dt.time(9, 0))
    assert deadline.astimezone(BERLIN) == dt.datetime(2027, 3, 8, 9, 0, tzinfo=BERLIN)


@pytest.mark.parametrize(
    "rule",
    [
        "",
        "FREQ=HOURLY",
        "BYDAY=TU",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=WEEKLY;BYHOUR=15",
        "DTSTART:20260101T000000",
        "FREQ=SOMETIMES",
        "FREQ=WEEKLY\nRRULE:FREQ=DAILY",
        "FREQ=WEEKLY;INTERVAL=zwei",
    ],
)
def test_invalid_rules_are_refused_with_a_german_message(rule):
    with pytest.raises(InvalidInput) as info:
        schedule.normalize_rrule(rule, START)
    assert info.value.field == "rrule"
    assert "Wiederholungsregel" in info.value.message or "Konferenz" in info.value.message


def test_rule_is_normalized():
    assert schedule.normalize_rrule("RRULE:freq=weekly;byday=tu", START) == "FREQ=WEEKLY;BYDAY=TU"


def test_overlap_is_strict():
    t = dt.datetime(2027, 1, 5, 14, tzinfo=dt.UTC)
    h = dt.timedelta(hours=1)
    assert schedule.overlaps(t, t + h, t + h / 2, t + 2 * h)
    assert not schedule.overlaps(t, t + h, t + h, t + 2 * h)


def test_describe_rule():
    assert schedule.describe_rrule("FREQ=WEEKLY;BYDAY=TU", "de") == "dienstags"
    assert schedule.describe_rrule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", "de") == "jede 2. Woche montags"
    assert schedule.describe_rrule("FREQ=WEEKLY;BYDAY=TH", "en") == "weekly on Thursday"
    assert schedule.describe_rrule("FREQ=MONTHLY;BYMONTHDAY=1", "de") == "FREQ=MONTHLY;BYMONTHDAY=1"
