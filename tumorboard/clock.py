"""Time, injected wherever it matters (schedules, deadlines, throttling), so tests can fix it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
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
