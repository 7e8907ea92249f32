"""The calendar feed is rendered once per state of what it shows and answers conditional requests (issue 16: it was
the slowest page under load). Whatever changes a session or a board in it — through the services, or a room changed
on the board alone, which touches no session row — reaches the next request; a client that sends the ETag back gets
304 without a body until then."""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar
from sqlalchemy import select

from tests.conftest import NOW, login, post_form
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board, ConferenceSession, SessionStatus


def _token(client, demo, username: str) -> str:
    login(client, username)
    post_form(client, "/calendar", "/calendar/renew", {})
    token = demo.scalar(select(User.feed_token).where(User.username == username))
    assert token
    return token


def _events(body: bytes) -> dict[str, dict[str, str]]:
    return {
        str(e["UID"]): {k: str(e.get(k)) for k in ("STATUS", "LOCATION", "DTSTAMP", "SUMMARY")}
        for e in Calendar.from_ical(body).walk("VEVENT")
    }


def _first_planned(demo, short_name: str) -> ConferenceSession:
    board = demo.scalar(select(Board).where(Board.short_name == short_name))
    found = demo.scalars(
        select(ConferenceSession)
        .where(ConferenceSession.board_id == board.id, ConferenceSession.status == SessionStatus.PLANNED)
        .where(ConferenceSession.starts_at > NOW)
        .order_by(ConferenceSession.starts_at)
    ).first()
    assert found is not None
    return found


def test_an_unchanged_feed_is_served_from_the_cache_and_answers_304_to_its_etag(client, demo, clock):
    url = f"/feeds/{_token(client, demo, 'koordination')}/all.ics"
    first = client.get(url)
    assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
    clock.advance(dt.timedelta(minutes=3))
    again = client.get(url)
    # The same body, DTSTAMP included: not rendered again three minutes later.
    assert again.status_code == 200 and again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    conditional = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert conditional.status_code == 304 and conditional.data == b""
    assert conditional.headers["ETag"] == first.headers["ETag"]
    assert conditional.headers["Cache-Control"] == "private, max-age=300"
    other = client.get(url, headers={"If-None-Match": 'W/"something-else"'})
    assert other.status_code == 200 and other.data == first.data


def test_a_cancelled_session_changes_etag_and_body(client, demo, clock):
    url = f"/feeds/{_token(client, demo, 'koordination')}/all.ics"
    first = client.get(url)
    cs = _first_planned(demo, "Viszeral")
    assert _events(first.data)[cs.uid]["STATUS"] == "CONFIRMED"
    conf.cancel_session(demo, cs, reason="Jahrestagung", at=clock.now(), actor=CLI)  # same time: updated_at unchanged
    demo.commit()
    conditional = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert conditional.status_code == 200 and conditional.headers["ETag"] != first.headers["ETag"]
    assert _events(conditional.data)[cs.uid]["STATUS"] == "CANCELLED"


def test_a_room_changed_on_the_board_alone_reaches_the_feed(client, demo):
    """The board's room is every session's room that has none of its own; no session row changes with it."""
    token = _token(client, demo, "koordination")
    cs = _first_planned(demo, "Lunge")
    url = f"/feeds/{token}/boards/{cs.board_id}.ics"
    first = client.get(url)
    assert _events(first.data)[cs.uid]["LOCATION"] != "Hörsaal 3"
    board = demo.get(Board, cs.board_id)
    board.room = "Hörsaal 3"
    demo.commit()
    after = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and _events(after.data)[cs.uid]["LOCATION"] == "Hörsaal 3"


def test_each_language_and_board_has_its_own_feed(client, demo):
    token = _token(client, demo, "koordination")
    cs = _first_planned(demo, "Viszeral")
    german = client.get(f"/feeds/{token}/all.ics")
    board = client.get(f"/feeds/{token}/boards/{cs.board_id}.ics")
    assert board.headers["ETag"] != german.headers["ETag"] and len(_events(board.data)) < len(_events(german.data))
    user = demo.scalar(select(User).where(User.username == "koordination"))
    user.locale = "en"
    demo.commit()
    english = client.get(f"/feeds/{token}/all.ics", headers={"If-None-Match": german.headers["ETag"]})
    assert english.status_code == 200 and english.headers["ETag"] != german.headers["ETag"]
    assert _events(english.data)[cs.uid]["SUMMARY"] != _events(german.data)[cs.uid]["SUMMARY"]


def test_a_revoked_token_is_refused_even_with_a_cached_feed_and_its_etag(client, demo):
    url = f"/feeds/{_token(client, demo, 'koordination')}/all.ics"
    first = client.get(url)
    post_form(client, "/calendar", "/calendar/revoke", {})
    assert client.get(url).status_code == 404
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 404
