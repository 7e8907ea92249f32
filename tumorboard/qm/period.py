"""The period a QM figure covers: a calendar year (the "Kennzahlenjahr"), a quarter, a month or a free range."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_

#: The longest free range (the bundle of several years is a job for several bundles).
MAX_DAYS = 3 * 366


class PeriodKind(enum.StrEnum):
    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"
    RANGE = "range"


@dataclass(frozen=True, slots=True)
class Period:
    first: dt.date
    #: Inclusive.
    last: dt.date
    kind: PeriodKind

    @property
    def label(self) -> str:
        if self.kind is PeriodKind.YEAR:
            return str(self.first.year)
        if self.kind is PeriodKind.QUARTER:
            return f"Q{(self.first.month - 1) // 3 + 1} {self.first.year}"
        if self.kind is PeriodKind.MONTH:
            return f"{self.first.month:02d}/{self.first.year}"
        return f"{self.first:%d.%m.%Y} – {self.last:%d.%m.%Y}"

    @property
    def months(self) -> list[dt.date]:
        """First day of every calendar month the period touches."""
        out, month = [], self.first.replace(day=1)
        while month <= self.last:
            out.append(month)
            month = (month + dt.timedelta(days=32)).replace(day=1)
        return out


def last_full_year(today: dt.date) -> Period:
    return year_period(today.year - 1)


def year_period(year: int) -> Period:
    return Period(dt.date(year, 1, 1), dt.date(year, 12, 31), PeriodKind.YEAR)


def _int(value: str | None, name: str, low: int, high: int) -> int:
    try:
        number = int(value or "")
    except ValueError:
        raise InvalidInput(N_("Bitte für %(name)s eine Zahl angeben."), field=name, name=name) from None
    if not low <= number <= high:
        raise InvalidInput(
            N_("%(name)s muss zwischen %(low)s und %(high)s liegen."), field=name, name=name, low=low, high=high
        )
    return number


def _date(value: str | None, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        raise InvalidInput(N_("Bitte das Datum „%(name)s“ als JJJJ-MM-TT angeben."), field=name, name=name) from None


def parse_period(
    kind: str | None,
    *,
    today: dt.date,
    year: str | None = None,
    quarter: str | None = None,
    month: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Period:
    """The period from form or command-line values; nothing given → the last full calendar year; ``start``/``end``
    without a kind → that range. Bad values raise
    :class:`InvalidInput` with a German message (end before start, unknown kind, out-of-range numbers)."""
    if not kind and (start or end):
        kind = PeriodKind.RANGE.value  # a range given without its kind is still that range, never the default year
    if not kind:
        return last_full_year(today) if not year else year_period(_int(year, "Jahr", 2000, 2100))
    try:
        which = PeriodKind(kind)
    except ValueError:
        raise InvalidInput(
            N_("Unbekannte Zeitraumart; bitte Jahr, Quartal, Monat oder Zeitraum wählen."), field="period"
        ) from None
    if which is PeriodKind.RANGE:
        first, last = _date(start, "von"), _date(end, "bis")
        if last < first:
            raise InvalidInput(N_("Das Ende des Zeitraums liegt vor seinem Anfang."), field="end")
        if (last - first).days > MAX_DAYS:
            raise InvalidInput(N_("Der Zeitraum darf höchstens drei Jahre umfassen."), field="end")
        return Period(first, last, which)
    number = _int(year, "Jahr", 2000, 2100) if year else today.year - 1
    if which is PeriodKind.YEAR:
        return year_period(number)
    if which is PeriodKind.QUARTER:
        q = _int(quarter, "Quartal", 1, 4)
        first = dt.date(number, 3 * q - 2, 1)
        return Period(first, (first + dt.timedelta(days=92)).replace(day=1) - dt.timedelta(days=1), which)
    m = _int(month, "Monat", 1, 12)
    first = dt.date(number, m, 1)
    return Period(first, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1), which)
