"""Cases follow their session (issue 13): cancelling or moving a session with cases decides what happens to them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.cases.factories import register, upcoming_sessions
from tests.factories import make_board, make_user
from tumorboard.audit.models import AuditEvent
from tumorboard.audit.tags import Tag
from tumorboard.auth.services import actor_for
from tumorboard.cases import services as cases
from tumorboard.cases.models import CaseStatus
from tumorboard.conferences.models import SessionStatus
from tumorboard.errors import Conflict, InvalidInput

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # Monday 09:00 Berlin


@pytest.fixture
def three(db_session):
    board = make_board(db_session, NOW)  # Tuesdays 15:15
    physician = make_user(db_session, NOW, role="physician")
    coordinator = make_user(db_session, NOW, role="coordinator")
    sessions = upcoming_sessions(db_session, board, NOW, weeks=6)
    first = sessions[0]
    rows = [register(db_session, board, at=NOW, by=physician, target=first) for _ in range(3)]
    return board, coordinator, sessions, rows


def _events(db_session, tag):
    return db_session.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)).all()


def test_cancel_without_a_decision_is_refused_and_changes_nothing(db_session, three):
    _, coordinator, sessions, rows = three
    db_session.flush()
    with pytest.raises(InvalidInput) as info, db_session.begin_nested():
        cases.cancel_session_with_cases(
            db_session, sessions[0], reason="Kongress", disposition=None, at=NOW, actor=actor_for(coordinator)
        )
    assert info.value.field == "cases"
    db_session.expire_all()
    assert sessions[0].status is SessionStatus.PLANNED
    assert [c.session_id for c in rows] == [sessions[0].id] * 3


def test_cancel_moves_all_cases_to_the_next_session_in_order_with_history(db_session, three):
    _, coordinator, sessions, rows = three
    target = cases.cancel_session_with_cases(
        db_session, sessions[0], reason="Kongress", disposition="next", at=NOW, actor=actor_for(coordinator)
    )
    assert target is sessions[1]
    assert sessions[0].status is SessionStatus.CANCELLED
    assert [c.id for c in cases.session_cases(db_session, sessions[1])] == [c.id for c in rows]
    assert all(c.moved_from_session_id == sessions[0].id for c in rows)
    moves = _events(db_session, Tag.CASE_MOVE)
    assert [m.subject_id for m in moves] == [str(c.id) for c in rows]
    assert all(m.reason == "Sitzung abgesagt: Kongress" for m in moves)
    (decision,) = _events(db_session, Tag.CONFERENCE_SESSION_CASES)
    assert decision.after == {"disposition": "next", "cases": [c.id for c in rows], "target_session_id": sessions[1].id}


def test_cancel_moves_cases_to_a_chosen_session(db_session, three):
    _, coordinator, sessions, rows = three
    cases.cancel_session_with_cases(
        db_session,
        sessions[0],
        reason="Kongress",
        disposition="chosen",
        target_id=sessions[2].id,
        at=NOW,
        actor=actor_for(coordinator),
    )
    assert {c.session_id for c in rows} == {sessions[2].id}


def test_chosen_without_a_session_is_refused(db_session, three):
    _, coordinator, sessions, _ = three
    with pytest.raises(InvalidInput) as info:
        cases.cancel_session_with_cases(
            db_session, sessions[0], reason="Kongress", disposition="chosen", at=NOW, actor=actor_for(coordinator)
        )
    assert info.value.field == "target"


def test_cancel_keeps_cases_and_their_list_can_no_longer_be_reordered(db_session, three):
    _, coordinator, sessions, rows = three
    cases.cancel_session_with_cases(
        db_session, sessions[0], reason="Kongress", disposition="keep", at=NOW, actor=actor_for(coordinator)
    )
    assert {c.session_id for c in rows} == {sessions[0].id}
    assert _events(db_session, Tag.CASE_MOVE) == []
    assert _events(db_session, Tag.CONFERENCE_SESSION_CASES)[0].after["disposition"] == "keep"
    with pytest.raises(Conflict):
        cases.reorder_cases(db_session, sessions[0], [c.id for c in rows][::-1], at=NOW, actor=actor_for(coordinator))


def test_cancel_withdraws_all_cases_with_the_reason(db_session, three):
    _, coordinator, sessions, rows = three
    cases.cancel_session_with_cases(
        db_session, sessions[0], reason="Kongress", disposition="withdraw", at=NOW, actor=actor_for(coordinator)
    )
    assert {c.status for c in rows} == {CaseStatus.WITHDRAWN}
    assert {c.withdraw_reason for c in rows} == {"Sitzung abgesagt: Kongress"}


def test_move_takes_cases_along_or_sends_them_to_the_next_session(db_session, three):
    _, coordinator, sessions, rows = three
    cases.move_session_with_cases(
        db_session,
        sessions[0],
        day=dt.date(2026, 11, 26),
        start=dt.time(16, 0),
        reason="Raum belegt",
        disposition="keep",
        at=NOW,
        actor=actor_for(coordinator),
    )
    assert {c.session_id for c in rows} == {sessions[0].id}
    cases.move_session_with_cases(
        db_session,
        sessions[0],
        day=dt.date(2026, 11, 27),
        start=dt.time(16, 0),
        reason="Raum wieder belegt",
        disposition="next",
        at=NOW,
        actor=actor_for(coordinator),
    )
    assert {c.session_id for c in rows} == {sessions[1].id}
    assert {c.moved_from_session_id for c in rows} == {sessions[0].id}


def test_a_session_without_cases_is_cancelled_without_a_decision(db_session, three):
    _, coordinator, sessions, _ = three
    cases.cancel_session_with_cases(
        db_session, sessions[3], reason="Kongress", disposition=None, at=NOW, actor=actor_for(coordinator)
    )
    assert sessions[3].status is SessionStatus.CANCELLED
    assert _events(db_session, Tag.CONFERENCE_SESSION_CASES) == []
