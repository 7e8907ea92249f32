"""The iCalendar writer (issue 12): one bad stored value cannot take a feed down."""

from __future__ import annotations

import datetime as dt
import logging

from icalendar import Calendar
from sqlalchemy import select

from tests.conftest import login, post_form
from tests.factories import make_board
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board, ConferenceSession, SessionStatus
from tumorboard.exports.ical import render_calendar

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def _sessions(session, short_name: str) -> list[ConferenceSession]:
    board = session.scalar(select(Board).where(Board.short_name == short_name))
    return list(
        session.scalars(
            select(ConferenceSession)
            .where(ConferenceSession.board_id == board.id, ConferenceSession.status == SessionStatus.PLANNED)
            .order_by(ConferenceSession.starts_at)
        )
    )


def test_a_link_with_cr_lf_stored_before_validation_leaves_the_feed_whole(demo, caplog):
    sessions = _sessions(demo, "Viszeral") + _sessions(demo, "Lunge")
    bad = sessions[0]
    bad.board.video_url = "https://video.example.org/x\r\nX-INJECTED:1"  # as saved before the fix
    bad.board.room = "Raum\x071"  # BEL: PostgreSQL cannot store NUL at all
    demo.flush()
    with caplog.at_level(logging.WARNING, logger="tumorboard.exports.ical"):
        body = render_calendar(sessions, name="Alle", generated_at=NOW)
    events = {str(e["UID"]): e for e in Calendar.from_ical(body).walk("VEVENT")}
    assert set(events) == {cs.uid for cs in sessions}
    assert b"X-INJECTED" not in body.replace(b"\r\n ", b"")  # never a property of its own
    written = events[bad.uid]
    assert "URL" not in written and "LOCATION" not in written
    assert written.decoded("DTSTART") == bad.starts_at.astimezone(written.decoded("DTSTART").tzinfo)
    assert str(written["SUMMARY"]) == "Tumorkonferenz Viszeral"
    good = next(cs for cs in sessions if cs.board is not bad.board)
    assert str(events[good.uid]["URL"]) == good.video_url
    assert str(events[good.uid]["LOCATION"]) == good.room
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"session {bad.id} " in m for m in messages)
    assert not any("video.example.org" in m or "INJECTED" in m for m in messages)


def test_the_all_boards_feed_answers_200_with_a_bad_stored_link(client, demo):
    login(client, "koordination")
    post_form(client, "/calendar", "/calendar/renew", {})
    token = demo.scalar(select(User.feed_token).where(User.username == "koordination"))
    bad = _sessions(demo, "Gyn")[0]
    bad.board.video_url = "https://video.example.org/gyn\r\nX-INJECTED:1"
    demo.flush()
    response = client.get(f"/feeds/{token}/all.ics")
    assert response.status_code == 200
    uids = {str(e["UID"]) for e in Calendar.from_ical(response.data).walk("VEVENT")}
    assert bad.uid in uids and len(uids) > 50


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def test_the_hour_that_occurs_twice_is_written_unambiguously(db_session):
    board = make_board(db_session, NOW)
    # The session: 02:30 MESZ (00:30 UTC) on 31 Oct 2027 for an hour, ending at 02:30 MEZ (01:30 UTC).
    doubled = conf.add_extra_session(
        db_session, board, day=dt.date(2027, 10, 31), start=dt.time(1, 0), at=NOW, actor=CLI, duration_minutes=60
    )
    doubled.starts_at = dt.datetime(2027, 10, 31, 0, 30, tzinfo=dt.UTC)
    doubled.ends_at = dt.datetime(2027, 10, 31, 1, 30, tzinfo=dt.UTC)
    across = conf.add_extra_session(
        db_session, board, day=dt.date(2027, 10, 31), start=dt.time(1, 30), at=NOW, actor=CLI, duration_minutes=120
    )
    plain = conf.add_extra_session(db_session, board, day=dt.date(2027, 11, 2), start=dt.time(15, 0), at=NOW, actor=CLI)
    body = render_calendar([doubled, across, plain], name="T", generated_at=NOW)
    events = {str(e["UID"]): e for e in Calendar.from_ical(body).walk("VEVENT")}
    for cs in (doubled, across, plain):
        ev = events[cs.uid]
        assert _utc(ev.decoded("DTSTART")) == _utc(cs.starts_at)
        assert _utc(ev.decoded("DTEND")) == _utc(cs.ends_at)
        assert ev.decoded("DTEND") > ev.decoded("DTSTART")
    assert b"DTSTART:20271031T003000Z" in body and b"DTEND:20271031T013000Z" in body
    assert b"DTSTART;TZID=Europe/Berlin:20271102T150000" in body  # ordinary times keep the time zone


def test_no_event_ends_at_or_before_its_start(db_session, caplog):
    board = make_board(db_session, NOW, duration_minutes=90)
    cs = conf.add_extra_session(db_session, board, day=dt.date(2026, 12, 2), start=dt.time(15, 0), at=NOW, actor=CLI)
    cs.ends_at = cs.starts_at  # stored by an older version
    with caplog.at_level(logging.WARNING, logger="tumorboard.exports.ical"):
        body = render_calendar([cs], name="T", generated_at=NOW)
    ev = Calendar.from_ical(body).walk("VEVENT")[0]
    assert ev.decoded("DTEND") - ev.decoded("DTSTART") == dt.timedelta(minutes=90)
    assert f"session {cs.id} ends before it starts" in caplog.text


def _feed_across_a_year(db_session) -> tuple[bytes, list[ConferenceSession]]:
    board = make_board(db_session, NOW, rrule="FREQ=WEEKLY;BYDAY=TU", start_time=dt.time(15, 15))
    sessions = conf.generate_sessions(
        db_session, start=dt.date(2027, 1, 1), end=dt.date(2028, 1, 1), at=NOW, actor=CLI, boards=[board]
    )
    return render_calendar(sessions, name="T", generated_at=NOW), sessions


def test_the_time_zone_block_is_the_rule_based_pair_outlook_reads(db_session):
    body, _ = _feed_across_a_year(db_session)
    zones = Calendar.from_ical(body).walk("VTIMEZONE")
    assert len(zones) == 1 and str(zones[0]["TZID"]) == "Europe/Berlin"
    daylight, standard = zones[0].walk("DAYLIGHT"), zones[0].walk("STANDARD")
    assert len(daylight) == 1 and len(standard) == 1
    assert daylight[0]["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"
    assert standard[0]["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10"
    assert daylight[0].decoded("DTSTART").time() == dt.time(2, 0)
    assert standard[0].decoded("DTSTART").time() == dt.time(3, 0)
    assert (daylight[0].decoded("TZOFFSETFROM"), daylight[0].decoded("TZOFFSETTO")) == (
        dt.timedelta(hours=1),
        dt.timedelta(hours=2),
    )
    assert (standard[0].decoded("TZOFFSETFROM"), standard[0].decoded("TZOFFSETTO")) == (
        dt.timedelta(hours=2),
        dt.timedelta(hours=1),
    )
    assert b"RDATE" not in body
    assert body.index(b"BEGIN:VTIMEZONE") < body.index(b"BEGIN:VEVENT")


def test_a_second_parser_reads_summer_and_winter_sessions_at_the_right_instant(db_session):
    """vobject (and dateutil's tzical under it) builds its own time zone from our VTIMEZONE block."""
    import vobject

    body, sessions = _feed_across_a_year(db_session)
    parsed = vobject.readOne(body.decode())
    own_zone = parsed.vtimezone.gettzinfo()
    # The block's rules agree with the tz database on every hour around each change, 2026-2040.
    for year in range(2026, 2041):
        for month in (3, 10):
            last_sunday = max(
                d for d in (dt.date(year, month, 31) - dt.timedelta(days=i) for i in range(7)) if d.weekday() == 6
            )
            for hour in range(-3, 5):
                instant = dt.datetime.combine(last_sunday, dt.time(), tzinfo=dt.UTC) + dt.timedelta(hours=hour)
                assert instant.astimezone(own_zone).utcoffset() == instant.astimezone(BERLIN).utcoffset(), instant
    by_uid = {str(ev.uid.value): ev for ev in parsed.vevent_list}
    seen_offsets = set()
    for cs in sessions:
        start = by_uid[cs.uid].dtstart.value
        assert start.replace(tzinfo=own_zone).astimezone(dt.UTC) == cs.starts_at.astimezone(dt.UTC)
        assert start.astimezone(dt.UTC) == cs.starts_at.astimezone(dt.UTC)
        assert (start.hour, start.minute) == (15, 15)
        seen_offsets.add(cs.starts_at.astimezone(BERLIN).utcoffset())
    assert seen_offsets == {dt.timedelta(hours=1), dt.timedelta(hours=2)}
