"""iCalendar rendering of sessions (RFC 5545) — a pure renderer: sessions in, bytes out.

Stable UIDs (fixed when a session is created), DTSTART/DTEND with TZID=Europe/Berlin and its VTIMEZONE,
cancelled sessions as STATUS:CANCELLED, SEQUENCE raised on every change. No patient data: only the board,
room, video link and status.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard

from tumorboard import text as text_input
from tumorboard.clock import BERLIN, is_ambiguous
from tumorboard.conferences.models import ConferenceSession, SessionStatus
from tumorboard.i18n import N_, translate

PRODID = "-//Tumorboard//Tumorkonferenzen//DE"

log = logging.getLogger(__name__)


def render_calendar(
    sessions: Iterable[ConferenceSession],
    *,
    name: str,
    generated_at: dt.datetime,
    locale: str = "de",
    session_url: str | None = None,
) -> bytes:
    """``session_url`` is a format string with ``{id}`` for a link to the session page, if wanted."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "Europe/Berlin")
    cal.add("refresh-interval", dt.timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add_component(berlin_vtimezone())
    # Holiday-skipped sessions never took place in anybody's calendar; the board page shows why.
    shown = [cs for cs in sessions if cs.status is not SessionStatus.HOLIDAY]
    for cs in shown:
        cal.add_component(_safe_event(cs, generated_at=generated_at, locale=locale, session_url=session_url))
    body: bytes = cal.to_ical()
    return body


def berlin_vtimezone() -> Timezone:
    """Europe/Berlin as the rule-based STANDARD/DAYLIGHT pair (EU rule since 1996: last Sunday of March 02:00
    → 03:00, last Sunday of October 03:00 → 02:00).

    icalendar's generated block lists every change as an RDATE without an RRULE; desktop Outlook is known to
    shift summer-time events by an hour with that shape (issue 12, point 5). This is the block Outlook,
    Thunderbird, Apple and Google themselves publish. Should the EU ever drop the clock change, this block and
    :data:`tumorboard.clock.BERLIN` must change together (tests/exports/test_ical.py compares them).
    """
    tz = Timezone()
    tz.add("tzid", "Europe/Berlin")
    tz.add("x-lic-location", "Europe/Berlin")
    # An observance's DTSTART is a local time without zone by definition (RFC 5545, 3.6.5).
    for kind, name, start, frm, to, month in (
        (TimezoneDaylight, "CEST", dt.datetime.combine(dt.date(1996, 3, 31), dt.time(2, 0)), 1, 2, 3),
        (TimezoneStandard, "CET", dt.datetime.combine(dt.date(1996, 10, 27), dt.time(3, 0)), 2, 1, 10),
    ):
        part = kind()
        part.add("tzname", name)
        part.add("tzoffsetfrom", dt.timedelta(hours=frm))
        part.add("tzoffsetto", dt.timedelta(hours=to))
        part.add("dtstart", start)
        part.add("rrule", {"freq": "yearly", "bymonth": month, "byday": "-1su"})
        tz.add_component(part)
    return tz


def _safe_event(cs: ConferenceSession, *, generated_at: dt.datetime, locale: str, session_url: str | None) -> Event:
    """One session's event, never an exception: a feed carries every board, so one value stored before it was
    validated (a link with CR LF, say) must not take all subscribers' calendars down. Such an event is written
    with its times and title only; the log names the session id and the error kind — never the value."""
    try:
        return _event(cs, generated_at=generated_at, locale=locale, session_url=session_url)
    except (ValueError, TypeError):  # icalendar refuses a value it cannot write (e.g. a URI with CR LF)
        log.warning("calendar: session %s written without room, link and notes (a stored value is invalid)", cs.id)
        return _event(cs, generated_at=generated_at, locale=locale, session_url=None, minimal=True)


def _text(value: str) -> str:
    return text_input.without_control_characters(value)


def _event(
    cs: ConferenceSession,
    *,
    generated_at: dt.datetime,
    locale: str,
    session_url: str | None,
    minimal: bool = False,
) -> Event:
    ev = Event()
    ev.add("uid", cs.uid)
    ev.add("dtstamp", generated_at.astimezone(dt.UTC))
    ev.add("last-modified", cs.updated_at.astimezone(dt.UTC))
    ev.add("created", cs.created_at.astimezone(dt.UTC))
    ev.add("sequence", cs.sequence)
    start, end = cs.starts_at, cs.ends_at
    if end <= start:  # never a zero-length or inverted event, whatever was stored
        log.warning("calendar: session %s ends before it starts; written with its board's duration", cs.id)
        end = start + dt.timedelta(minutes=max(cs.board.duration_minutes, 5))
    if is_ambiguous(start) or is_ambiguous(end):
        # TZID local time cannot say which 02:30 of the October change is meant (RFC 5545 takes the first), so
        # such an event is written in UTC, which every client converts back to the right wall time.
        ev.add("dtstart", start.astimezone(dt.UTC))
        ev.add("dtend", end.astimezone(dt.UTC))
    else:
        ev.add("dtstart", start.astimezone(BERLIN))
        ev.add("dtend", end.astimezone(BERLIN))
    summary = translate(N_("Tumorkonferenz %(board)s"), locale, board=_text(cs.board.short_name))
    lines = [_text(cs.board.name)]
    if cs.status is SessionStatus.CANCELLED:
        summary = translate(N_("Abgesagt: %(summary)s"), locale, summary=summary)
        ev.add("status", "CANCELLED")
    else:
        ev.add("status", "CONFIRMED")
    ev.add("summary", summary)
    ev.add("transp", "OPAQUE")
    ev.add("class", "PUBLIC")
    ev.add("categories", [translate(N_("Tumorkonferenz"), locale)])
    if minimal:
        ev.add("description", "\n".join(lines))
        return ev
    if cs.status is SessionStatus.CANCELLED:
        lines.append(translate(N_("Abgesagt: %(reason)s"), locale, reason=cs.cancel_reason or ""))
    if cs.is_moved:
        lines.append(translate(N_("Verschoben: %(reason)s"), locale, reason=cs.move_reason or ""))
    if cs.holiday_name:
        lines.append(translate(N_("Feiertag: %(name)s"), locale, name=cs.holiday_name))
    if cs.video_url:
        lines.append(translate(N_("Videokonferenz: %(url)s"), locale, url=cs.video_url))
    ev.add("description", _text_keeping_lines("\n".join(lines)))
    if cs.room:
        ev.add("location", _text(cs.room))
    if cs.video_url:
        ev.add("url", cs.video_url)
    elif session_url:
        ev.add("url", session_url.format(id=cs.id))
    return ev


def _text_keeping_lines(value: str) -> str:
    return "\n".join(_text(line) for line in text_input.normalize_line_breaks(value).split("\n"))
