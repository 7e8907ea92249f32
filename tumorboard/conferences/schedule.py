"""Pure schedule logic: recurrence (RFC 5545 RRULE via python-dateutil), NRW holidays, deadlines.

No database, no Flask: everything here is a function of its arguments, so it is tested on its own.
Wall-clock times are Europe/Berlin; a 15:15 board stays at 15:15 across daylight-saving changes because
occurrences are computed as local dates first and only then turned into instants.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

import holidays
from dateutil.rrule import HOURLY, MINUTELY, SECONDLY, rrule, rrulestr

from tumorboard.clock import BERLIN
from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_

#: Public holidays of North Rhine-Westphalia, where the center is.
HOLIDAY_COUNTRY = "DE"
HOLIDAY_SUBDIVISION = "NW"

_FORBIDDEN_PARTS = ("DTSTART", "BYHOUR", "BYMINUTE", "BYSECOND")


def parse_rrule(rule: str, series_start: dt.date) -> rrule:
    """Parse and check a board's recurrence. The time of day comes from the board, not from the rule."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or "\n" in text:
        raise InvalidInput(N_("Die Wiederholungsregel ist leer oder mehrzeilig."), field="rrule")
    upper = text.upper()
    for part in _FORBIDDEN_PARTS:
        if part + "=" in upper:
            raise InvalidInput(
                N_(
                    "Die Wiederholungsregel darf %(part)s nicht enthalten; Beginn und Uhrzeit stehen in eigenen "
                    "Feldern."
                ),
                field="rrule",
                part=part,
            )
    if "FREQ=" not in upper:
        raise InvalidInput(N_("Die Wiederholungsregel braucht FREQ, z. B. FREQ=WEEKLY;BYDAY=TU."), field="rrule")
    # UNTIL in UTC ("...Z") is what calendar programs write; the series is date-based, so compare it as a
    # local value (dateutil refuses a UTC UNTIL with a floating DTSTART).
    text = re.sub(r"(UNTIL=\d{8}(?:T\d{6})?)Z", r"\1", text, flags=re.IGNORECASE)
    try:
        parsed = rrulestr(text, dtstart=dt.datetime.combine(series_start, dt.time()))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            N_("Die Wiederholungsregel ist ungültig (RFC 5545): %(detail)s"), field="rrule", detail=str(exc)[:120]
        ) from None
    if not isinstance(parsed, rrule):  # rrulestr returns an rruleset only for multi-line input
        raise InvalidInput(N_("Die Wiederholungsregel ist ungültig (RFC 5545)."), field="rrule")
    if parsed._freq in (HOURLY, MINUTELY, SECONDLY):  # type: ignore[attr-defined]  # no public accessor
        raise InvalidInput(
            N_("Eine Konferenz kann höchstens täglich stattfinden (FREQ=DAILY, WEEKLY, MONTHLY oder YEARLY)."),
            field="rrule",
        )
    return parsed


def normalize_rrule(rule: str, series_start: dt.date) -> str:
    """The canonical text of a valid rule, as stored (e.g. ``FREQ=WEEKLY;BYDAY=TU``)."""
    parsed = parse_rrule(rule, series_start)
    text = str(parsed)
    lines = [line for line in text.splitlines() if line.startswith("RRULE:")]
    return lines[0][6:] if lines else text


def occurrence_dates(rule: str, series_start: dt.date, start: dt.date, end: dt.date) -> list[dt.date]:
    """Dates of the series in ``[start, end)``, never before ``series_start``."""
    if end <= start:
        return []
    parsed = parse_rrule(rule, series_start)
    lo = dt.datetime.combine(max(start, series_start), dt.time())
    hi = dt.datetime.combine(end, dt.time()) - dt.timedelta(microseconds=1)
    return [d.date() for d in parsed.between(lo, hi, inc=True)]


def local_instant(day: dt.date, at: dt.time) -> dt.datetime:
    """The UTC instant of a Berlin wall-clock time (a non-existent spring-forward time moves forward)."""
    local = dt.datetime.combine(day, at, tzinfo=BERLIN)
    # Round trip through UTC normalizes times in the spring-forward gap (PEP 495).
    return local.astimezone(dt.UTC).astimezone(BERLIN).astimezone(dt.UTC)


@cache
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(HOLIDAY_COUNTRY, subdiv=HOLIDAY_SUBDIVISION, years=year, language="de")


def holiday_name(day: dt.date) -> str | None:
    """German name of the NRW public holiday on ``day``, or None."""
    name = _holidays(day.year).get(day)
    return str(name) if name else None


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and holiday_name(day) is None


def registration_deadline(session_day: dt.date, working_days_before: int, at: dt.time) -> dt.datetime:
    """Deadline as a UTC instant: ``working_days_before`` working days (Mon–Fri, no NRW holiday) before the
    session's day, at ``at`` Berlin time. 0 means the session's own day."""
    day = session_day
    remaining = working_days_before
    while remaining > 0:
        day -= dt.timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return local_instant(day, at)


def overlaps(a_start: dt.datetime, a_end: dt.datetime, b_start: dt.datetime, b_end: dt.datetime) -> bool:
    return a_start < b_end and b_start < a_end


_BYDAY = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}


def describe_rrule(rule: str, locale: str = "de") -> str:
    """A short readable form of the common rules ("dienstags", "jede 2. Woche montags"); else the rule."""
    from babel.dates import get_day_names

    parts = dict(p.split("=", 1) for p in rule.upper().split(";") if "=" in p)
    days = [d for d in parts.get("BYDAY", "").split(",") if d in _BYDAY]
    if parts.get("FREQ") != "WEEKLY" or not days or set(parts) - {"FREQ", "BYDAY", "INTERVAL", "WKST"}:
        return rule
    names = get_day_names("wide", locale=locale)
    label = ", ".join(str(names[_BYDAY[d]]) for d in days)
    interval = parts.get("INTERVAL", "1")
    if locale == "de":
        label = ", ".join(str(names[_BYDAY[d]]).lower() + "s" for d in days)
        return label if interval == "1" else f"jede {interval}. Woche {label}"
    return f"weekly on {label}" if interval == "1" else f"every {interval} weeks on {label}"
