"""The members page (admin and coordinators manage it) and the rules explained on the live page (de, en)."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import login, post_form
from tumorboard.access.services import members_of
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.models import User
from tumorboard.conferences.models import Board, ConferenceSession


def _board(db, short: str) -> Board:
    return db.scalar(select(Board).where(Board.short_name == short))


def test_coordinator_sets_the_moderator_in_the_ui_and_it_is_audited(client, demo):
    board = _board(demo, "Brust")
    schmitz = demo.scalar(select(User).where(User.username == "dr.schmitz"))
    login(client, "koordination")
    url = f"/boards/{board.id}/members"
    status, page = post_form(client, url, url, {"user": str(schmitz.id), "role": "moderator"})
    assert status == 200 and "Mitglieder gespeichert." in page
    roles = {m.user.username: m.role.value for m in members_of(demo, board)}
    assert roles["dr.schmitz"] == "moderator" and roles["dr.berger"] == "deputy"
    event = demo.scalars(select(AuditEvent).where(AuditEvent.tag == "access:member:role")).all()[-1]
    assert event.actor_label == "user:koordination" and event.after == {"user_id": schmitz.id, "role": "moderator"}
    status, page = post_form(client, url, url, {"user": str(schmitz.id), "role": "remove"})
    assert "dr.schmitz" not in {m.user.username for m in members_of(demo, board)}
    login(client, "dr.berger")  # the moderator herself does not manage membership
    page = client.get(url)
    assert page.status_code == 200 and "Mitglied hinzufügen" not in page.text


def test_the_live_page_explains_the_rules_in_german_and_english(client, demo):
    board = _board(demo, "Brust")
    cs = demo.scalars(select(ConferenceSession).where(ConferenceSession.board_id == board.id)).first()
    login(client, "dr.berger")
    page = client.get(f"/sessions/{cs.id}/live").text
    assert "Wer darf was in dieser Sitzung?" in page and "Ihre Rolle: Moderation" in " ".join(page.split())
    assert "Das Protokoll und Nachträge unterschreibt nur die Moderation oder ihre Stellvertretung" in page
    post_form(client, "/", "/language", {"locale": "en", "next": f"/sessions/{cs.id}/live"})
    page = client.get(f"/sessions/{cs.id}/live").text
    assert "Who may do what in this session?" in page and "Your role: Moderator" in " ".join(page.split())
    assert "Only the moderator or a deputy signs the protocol and amendments" in page
