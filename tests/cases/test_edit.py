"""Editing a registered case (issue 13): the registrant or a coordinator until the agenda is frozen, afterwards only a
coordinator with a reason; before and after in the audit log; the agenda's next version marks the case."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.cases.factories import case_input, register, upcoming_sessions
from tests.factories import make_board, make_user
from tumorboard.audit.models import AuditEvent
from tumorboard.audit.tags import Tag
from tumorboard.auth.services import actor_for
from tumorboard.cases import services as cases
from tumorboard.cases.agenda import AgendaChange, current_agenda, freeze_agenda
from tumorboard.errors import InvalidInput, PermissionDenied

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def setup(db_session):
    board = make_board(db_session, NOW)
    physician = make_user(db_session, NOW, role="physician")
    other = make_user(db_session, NOW, role="physician")
    coordinator = make_user(db_session, NOW, role="coordinator")
    first = upcoming_sessions(db_session, board, NOW)[1]
    case = register(db_session, board, at=NOW, by=physician, target=first, icd10_code="C81.7")
    return case, physician, other, coordinator


def _edit(db, case, by, frozen=False, reason=None, **changes):
    data = case_input(**{"icd10_code": case.icd10_code, "question": case.question, **changes})
    return cases.edit_case(db, case, data, editor=by, reason=reason, frozen=frozen, at=NOW, actor=actor_for(by))


def test_the_registrant_corrects_a_typo_and_the_audit_log_has_before_and_after(db_session, setup):
    case, physician, _, _ = setup
    _edit(db_session, case, physician, icd10_code="C18.7", tnm="cT3 cN1 cM0")
    assert case.icd10_code == "C18.7" and case.tnm == "cT3 cN1 cM0"
    (event,) = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == Tag.CASE_EDIT)).all()
    assert event.before == {"icd10_code": "C81.7", "tnm": None}
    assert event.after == {"icd10_code": "C18.7", "tnm": "cT3 cN1 cM0"}


def test_someone_else_may_not_and_bad_input_changes_nothing(db_session, setup):
    case, physician, other, _ = setup
    with pytest.raises(PermissionDenied):
        _edit(db_session, case, other, icd10_code="C18.7")
    with pytest.raises(InvalidInput):
        _edit(db_session, case, physician, icd10_code="Darmkrebs")
    with pytest.raises(InvalidInput):  # nothing changed
        _edit(db_session, case, physician)


def test_after_freezing_only_a_coordinator_with_a_reason_and_the_next_version_marks_it(db_session, setup):
    case, physician, _, coordinator = setup
    freeze_agenda(db_session, case.session, at=NOW, actor=actor_for(coordinator))
    with pytest.raises(PermissionDenied):
        _edit(db_session, case, physician, frozen=True, question="Neue Frage an die Konferenz?")
    with pytest.raises(InvalidInput) as info:
        _edit(db_session, case, coordinator, frozen=True, question="Neue Frage an die Konferenz?")
    assert info.value.field == "reason"
    _edit(
        db_session, case, coordinator, frozen=True, reason="Frage präzisiert", question="Neue Frage an die Konferenz?"
    )
    agenda = current_agenda(db_session, case.session, at=NOW)
    assert agenda.version == 2
    (entry,) = [e for e in agenda.entries if e.case_id == case.id]
    assert entry.change is AgendaChange.EDITED and entry.question == "Neue Frage an die Konferenz?"
