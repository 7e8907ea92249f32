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
    bad.board.room = "Raum\x001"
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
