"""Views through the Flask test client, on the real database."""

from __future__ import annotations

import datetime as dt

from icalendar import Calendar
from sqlalchemy import func, select

from tests.conftest import csrf_from, login, post_form
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.models import User
from tumorboard.cases import services as cases_services
from tumorboard.cases.models import Case
from tumorboard.conferences.models import Board, ConferenceSession, SessionStatus


def _first_planned(session, short_name: str) -> ConferenceSession:
    board = session.scalar(select(Board).where(Board.short_name == short_name))
    return session.scalars(
        select(ConferenceSession)
        .where(ConferenceSession.board_id == board.id, ConferenceSession.status == SessionStatus.PLANNED)
        .order_by(ConferenceSession.starts_at)
    ).first()


def _audit_count(session) -> int:
    return session.scalar(select(func.count(AuditEvent.id)))


def test_overview_shows_the_nine_boards_with_weekday_and_time(client, demo):
    login(client, "koordination")
    page = client.get("/").text
    for name, rhythm in [
        ("Viszeralonkologisches Zentrum", "dienstags, 15:15"),
        ("Gynäkologisches Krebszentrum", "montags, 14:30"),
        ("Hautkrebszentrum", "dienstags, 15:15"),
        ("Kopf-Hals-Tumorzentrum", "mittwochs, 16:00"),
        ("Lungenkrebszentrum", "dienstags, 16:30"),
        ("Neuroonkologisches Zentrum", "mittwochs, 15:30"),
        ("Prostatakarzinomzentrum", "donnerstags, 16:30"),
        ("Westfälisches Brustzentrum", "montags, 14:30"),
        ("Kinderonkologisches Zentrum", "mittwochs, 13:45"),
    ]:
        assert name in page and rhythm in page
    assert page.count("KW ") == 12


def test_session_page_shows_date_room_video_and_deadline(client, demo):
    cs = _first_planned(demo, "Viszeral")
    login(client, "dr.berger")
    page = client.get(f"/sessions/{cs.id}").text
    assert "Di., 24.11.2026, 15:15" in page
    assert "Konferenzraum 1, Ebene 2" in page and "https://video.example.org/tumorkonferenz-viszeral" in page
    assert "Mo., 23.11.2026, 12:00" in page  # deadline: working day before at noon
    assert "Absagen" not in page  # physicians do not plan


def test_session_page_offers_registration_only_to_those_who_may_register(client, demo):
    """QM is read-only: the session page offered it "Fall anmelden", which answered 403 (found in review)."""
    cs = _first_planned(demo, "Viszeral")
    login(client, "dr.berger")
    assert "/cases/new" in client.get(f"/sessions/{cs.id}").text
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
    login(client, "qm")
    page = client.get(f"/sessions/{cs.id}").text
    assert "/cases/new" not in page and "Fall anmelden" not in page


def test_cancel_in_the_ui_reaches_the_feed_with_same_uid_and_higher_sequence(client, demo):
    login(client, "koordination")
    cs = _first_planned(demo, "Viszeral")
    post_form(client, "/calendar", "/calendar/renew", {})
    token = demo.scalar(select(User.feed_token).where(User.username == "koordination"))
    before = _event_for(client.get(f"/feeds/{token}/boards/{cs.board_id}.ics").data, cs.uid)
    assert before["STATUS"] == "CONFIRMED"
    status, page = post_form(
        client,
        f"/sessions/{cs.id}",
        f"/sessions/{cs.id}/cancel",
        {"reason": "Jahrestagung der Fachgesellschaft", "cases": "keep"},
    )
    assert status == 200 and "abgesagt" in page and "Jahrestagung der Fachgesellschaft" in page
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    feed = client.get(f"/feeds/{token}/boards/{cs.board_id}.ics")  # no login: the token is enough
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    after = _event_for(feed.data, cs.uid)
    assert after["STATUS"] == "CANCELLED"
    assert after["SEQUENCE"] > before["SEQUENCE"]
    assert _event_for(client.get(f"/feeds/{token}/all.ics").data, cs.uid)["STATUS"] == "CANCELLED"


def test_cancel_with_cases_asks_next_to_its_form_then_moves_them_to_the_next_session(client, demo):
    login(client, "koordination")
    cs = next(
        s
        for s in demo.scalars(
            select(ConferenceSession)
            .where(ConferenceSession.status == SessionStatus.PLANNED)
            .order_by(ConferenceSession.starts_at)
        )
        if len(cases_services.movable_cases(demo, s)) >= 2
    )
    ids = [c.id for c in cases_services.movable_cases(demo, cs)]
    page = client.get(f"/sessions/{cs.id}").text
    assert "Was geschieht mit ihnen?" in page or "Was geschieht mit ihm?" in page
    count = _audit_count(demo)
    response = client.post(f"/sessions/{cs.id}/cancel", data={"csrf_token": csrf_from(page), "reason": "Kongress"})
    assert response.status_code == 422
    form = response.text.split('id="cancel-form"', 1)[1].split("</form>", 1)[0]
    assert "Bitte wählen, was mit ihnen geschieht." in form
    demo.expire_all()
    assert cs.status is SessionStatus.PLANNED and _audit_count(demo) == count
    status, page = post_form(
        client, f"/sessions/{cs.id}", f"/sessions/{cs.id}/cancel", {"reason": "Kongress", "cases": "next"}
    )
    assert status == 200 and "Sitzung abgesagt." in page
    demo.expire_all()
    moved = [demo.get(Case, i) for i in ids]
    assert {c.moved_from_session_id for c in moved} == {cs.id}
    assert {c.session_id for c in moved} != {cs.id}
    case_page = client.get(f"/cases/{ids[0]}").text
    assert "Sitzung abgesagt – verschoben auf" in case_page


def _event_for(body: bytes, uid: str):
    events = [e for e in Calendar.from_ical(body).walk("VEVENT") if str(e["UID"]) == uid]
    assert len(events) == 1
    return events[0]


def test_cancel_without_reason_shows_german_message_and_changes_nothing(client, demo):
    login(client, "koordination")
    cs = _first_planned(demo, "Gyn")
    count = _audit_count(demo)
    token = csrf_from(client.get(f"/sessions/{cs.id}").text)
    response = client.post(f"/sessions/{cs.id}/cancel", data={"csrf_token": token, "reason": " "})
    assert response.status_code == 422
    assert "Bitte einen Grund für die Absage angeben." in response.text
    demo.refresh(cs)
    assert cs.status is SessionStatus.PLANNED and cs.sequence == 0
    assert _audit_count(demo) == count


def test_move_into_the_past_shows_german_message_and_changes_nothing(client, demo):
    login(client, "koordination")
    cs = _first_planned(demo, "Gyn")
    start = cs.starts_at
    token = csrf_from(client.get(f"/sessions/{cs.id}").text)
    response = client.post(
        f"/sessions/{cs.id}/move",
        data={"csrf_token": token, "date": "2026-11-02", "start": "14:30", "duration_minutes": "60", "reason": "Raum"},
    )
    assert response.status_code == 422
    assert "Der neue Termin liegt in der Vergangenheit." in response.text
    demo.refresh(cs)
    assert cs.starts_at == start and cs.sequence == 0


def test_move_and_extra_session(client, demo):
    login(client, "koordination")
    cs = _first_planned(demo, "Lunge")
    status, page = post_form(
        client,
        f"/sessions/{cs.id}",
        f"/sessions/{cs.id}/move",
        {"date": "2026-11-26", "start": "08:00", "duration_minutes": "45", "reason": "Raum belegt", "cases": "keep"},
    )
    assert status == 200 and "Sitzung verschoben." in page and "Raum belegt" in page
    demo.refresh(cs)
    assert cs.sequence == 1 and cs.local_start.hour == 8 and cs.local_end.minute == 45
    status, page = post_form(
        client,
        f"/boards/{cs.board_id}",
        f"/boards/{cs.board_id}/sessions",
        {"date": "2026-12-23", "start": "10:00", "duration_minutes": "", "note": "Jahresendsitzung"},
    )
    assert status == 200 and "Sondersitzung angelegt." in page and "Jahresendsitzung" in page


def test_bad_form_values_get_a_message(client, demo):
    login(client, "koordination")
    cs = _first_planned(demo, "Lunge")
    token = csrf_from(client.get(f"/sessions/{cs.id}").text)
    response = client.post(
        f"/sessions/{cs.id}/move", data={"csrf_token": token, "date": "gestern", "start": "25:99", "reason": "Raum"}
    )
    assert response.status_code == 422 and "Bitte die markierten Felder prüfen." in response.text


def test_edit_board_with_invalid_recurrence_changes_nothing(client, demo):
    login(client, "koordination")
    board = demo.scalar(select(Board).where(Board.short_name == "Prostata"))
    page = client.get(f"/boards/{board.id}/edit").text
    assert "eine: Hämatologie/Onkologie, Urologie mit med. Tumortherapie" in page
    count = _audit_count(demo)
    form = {
        "csrf_token": csrf_from(page),
        "name": board.name,
        "short_name": board.short_name,
        "center": board.center,
        "rrule": "FREQ=WEEKLY;BYDAY=DO",
        "series_start": "2026-01-05",
        "start_time": "16:30",
        "duration_minutes": "60",
        "room": board.room,
        "video_url": board.video_url,
        "deadline_working_days": "1",
        "deadline_time": "12:00",
        "holiday_policy": "skip",
        "quorum": "alle: Urologie",
    }
    response = client.post(f"/boards/{board.id}/edit", data=form)
    assert response.status_code == 422
    assert "Die Wiederholungsregel ist ungültig (RFC 5545)" in response.text
    demo.expire_all()
    assert board.rrule == "FREQ=WEEKLY;BYDAY=TH" and len(board.quorum_groups) == 2
    assert _audit_count(demo) == count
    # and a valid change goes through, audited
    form["rrule"], form["start_time"] = "FREQ=WEEKLY;BYDAY=TH", "17:00"
    response = client.post(f"/boards/{board.id}/edit", data=form, follow_redirects=True)
    assert response.status_code == 200 and "Konferenz gespeichert." in response.text
    demo.expire_all()
    assert board.start_time == dt.time(17, 0) and len(board.quorum_groups) == 1
    assert _audit_count(demo) > count


def test_wrong_csrf_token_is_refused_in_german_and_changes_nothing(client, demo):
    login(client, "koordination")
    cs = _first_planned(demo, "Haut")
    response = client.post(f"/sessions/{cs.id}/cancel", data={"csrf_token": "falsch", "reason": "Kongress"})
    assert response.status_code == 400
    assert "Das Formular ist abgelaufen oder ungültig (CSRF-Prüfung)" in response.text
    response = client.post(f"/sessions/{cs.id}/cancel", data={"reason": "Kongress"})
    assert response.status_code == 400
    demo.refresh(cs)
    assert cs.status is SessionStatus.PLANNED


def test_physician_and_qm_cannot_plan(client, demo):
    cs = _first_planned(demo, "Neuro")
    for user in ("dr.berger", "qm"):
        login(client, user)
        token = csrf_from(client.get(f"/sessions/{cs.id}").text)
        assert (
            client.post(f"/sessions/{cs.id}/cancel", data={"csrf_token": token, "reason": "Kongress"}).status_code
            == 403
        )
        assert client.get(f"/boards/{cs.board_id}/edit").status_code == 403
        client.post("/logout", data={"csrf_token": token})
    demo.refresh(cs)
    assert cs.status is SessionStatus.PLANNED


def test_clash_view_lists_the_parallel_boards(client, demo):
    login(client, "dr.berger")
    page = client.get("/clashes").text
    assert "Viszeral / Haut" in page or "Haut / Viszeral" in page
    assert "Gyn / Brust" in page or "Brust / Gyn" in page
    assert "Radiologie" in page


def test_single_session_ics(client, demo):
    login(client, "dr.berger")
    cs = _first_planned(demo, "Kinder")
    response = client.get(f"/sessions/{cs.id}/calendar.ics")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    assert _event_for(response.data, cs.uid)["LOCATION"] == "Konferenzraum Kinderklinik"


def test_feed_token_renew_and_revoke(client, demo):
    login(client, "dr.berger")
    post_form(client, "/calendar", "/calendar/renew", {})
    first = demo.scalar(select(User.feed_token).where(User.username == "dr.berger"))
    assert first and len(first) >= 40
    assert first in client.get("/calendar").text
    post_form(client, "/calendar", "/calendar/renew", {})
    second = demo.scalar(select(User.feed_token).where(User.username == "dr.berger"))
    assert second != first
    assert client.get(f"/feeds/{first}/all.ics").status_code == 404
    assert client.get(f"/feeds/{second}/all.ics").status_code == 200
    post_form(client, "/calendar", "/calendar/revoke", {})
    assert client.get(f"/feeds/{second}/all.ics").status_code == 404


def test_english_ui(client, demo):
    login(client, "koordination")
    token = csrf_from(client.get("/").text)
    client.post("/language", data={"csrf_token": token, "locale": "en", "next": "/"})
    page = client.get("/").text
    assert 'lang="en"' in page and "weekly on Tuesday, 15:15" in page


def test_session_page_tells_the_two_half_past_twos_apart(client, demo):
    cs = _first_planned(demo, "Viszeral")
    cs.starts_at = dt.datetime(2027, 10, 31, 0, 30, tzinfo=dt.UTC)  # 02:30 MESZ
    cs.ends_at = dt.datetime(2027, 10, 31, 1, 30, tzinfo=dt.UTC)  # 02:30 MEZ, an hour later
    demo.flush()
    login(client, "dr.berger")
    page = client.get(f"/sessions/{cs.id}").text
    assert "So., 31.10.2027, 02:30 MESZ – 02:30 MEZ Uhr" in page
    assert "02:30 – 02:30" not in page


def test_board_page_says_its_rhythm_in_words_and_the_deadline_in_proper_german(client, demo):
    """Issue 13: no raw RRULE, no weekday of the series start, no "Arbeitstag(e)"."""
    login(client, "koordination")
    board = demo.scalar(select(Board).where(Board.short_name == "Viszeral"))
    page = client.get(f"/boards/{board.id}").text
    rhythm = page.split('id="board-rhythm">', 1)[1].split("</dd>", 1)[0]
    assert "dienstags" in rhythm and "15:15–16:15 Uhr" in rhythm
    assert "FREQ=" not in page and "Arbeitstag(e)" not in page
    assert "1 Arbeitstag vorher" in page


def test_arrows_say_what_they_did_next_to_the_case_list(client, demo):
    login(client, "koordination")
    cs = _first_planned(demo, "Viszeral")
    second = cases_services.session_cases(demo, cs)[1]
    page = client.get(f"/sessions/{cs.id}").text
    response = client.post(f"/cases/{second.id}/up", data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    section = response.text.split('<section id="faelle">', 1)[1]
    assert "Fall nach oben verschoben." in section.split("</h2>", 1)[1].split("<table", 1)[0]
