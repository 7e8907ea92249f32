"""Time, injected wherever it matters (schedules, deadlines, throttling), so tests can fix it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

#: All wall-clock times the users see and configure are in this zone.
BERLIN = ZoneInfo("Europe/Berlin")


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@dataclass
class FixedClock:
    """A clock for tests: returns ``current`` until moved."""

    current: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC))

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, delta: dt.timedelta) -> None:
        self.current += delta


def today_berlin(clock: Clock) -> dt.date:
    return clock.now().astimezone(BERLIN).date()


class WallTime(StrEnum):
    """What a Berlin wall-clock time is on one day, across the daylight-saving changes (PEP 495)."""

    #: occurs exactly once
    REGULAR = "regular"
    #: skipped when the clocks go forward (last Sunday of March, 02:00–02:59)
    NONEXISTENT = "nonexistent"
    #: occurs twice when the clocks go back (last Sunday of October, 02:00–02:59)
    AMBIGUOUS = "ambiguous"


def wall_time(day: dt.date, at: dt.time) -> WallTime:
    first = dt.datetime.combine(day, at, tzinfo=BERLIN).replace(fold=0)
    second = first.replace(fold=1)
    if first.utcoffset() == second.utcoffset():
        return WallTime.REGULAR
    # In a gap, fold=0 takes the offset before the change (winter, +1) and fold=1 the one after (+2); in a repeated
    # hour it is the other way round (PEP 495). Round-tripping through UTC tells them apart.
    if first.astimezone(dt.UTC).astimezone(BERLIN).replace(tzinfo=None) != first.replace(tzinfo=None):
        return WallTime.NONEXISTENT
    return WallTime.AMBIGUOUS


def is_ambiguous(instant: dt.datetime) -> bool:
    """True when ``instant`` (aware) shows in Berlin as a wall time that occurs twice that day."""
    local = instant.astimezone(BERLIN)
    return wall_time(local.date(), local.time()) is WallTime.AMBIGUOUS


#: German abbreviations of the zone's two offsets (UTC+1, UTC+2); English uses CET/CEST.
_ZONE_NAMES = {"de": {3600: "MEZ", 7200: "MESZ"}, "en": {3600: "CET", 7200: "CEST"}}


def zone_suffix(instant: dt.datetime | dt.time | dt.date | None, locale: str = "de") -> str:
    """ " MESZ"/" MEZ" after a time shown in Berlin that occurs twice that day (else ""), so that the session of
    31 Oct 2027 reads "02:30 MESZ – 02:30 MEZ", never "02:30 – 02:30"."""
    if not isinstance(instant, dt.datetime) or instant.tzinfo is None or not is_ambiguous(instant):
        return ""
    offset = instant.astimezone(BERLIN).utcoffset() or dt.timedelta()
    names = _ZONE_NAMES.get(locale, _ZONE_NAMES["de"])
    return " " + names.get(int(offset.total_seconds()), "")
