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
from tumorboard.errors import Conflict, InvalidInput, PermissionDenied

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


def test_a_change_from_a_stale_page_is_refused_and_changes_nothing(db_session, setup):
    """Two windows (or two coordinators) on the same case: the second save names the version its page showed and
    is refused instead of silently overwriting the first (review of issue 13)."""
    case, physician, _, coordinator = setup
    shown = cases.case_version(case)
    later = NOW + dt.timedelta(minutes=1)
    data = case_input(icd10_code="C18.7", question=case.question)
    cases.edit_case(db_session, case, data, editor=physician, reason=None, frozen=False, at=later,
                    actor=actor_for(physician), seen=shown)  # fmt: skip
    stale = case_input(icd10_code="C20", question=case.question)
    with pytest.raises(Conflict, match="inzwischen geändert"):
        cases.edit_case(db_session, case, stale, editor=coordinator, reason=None, frozen=False, at=later,
                        actor=actor_for(coordinator), seen=shown)  # fmt: skip
    target = upcoming_sessions(db_session, case.session.board, NOW)[2]
    with pytest.raises(Conflict, match="inzwischen geändert"):
        cases.move_case(db_session, case, target, reason="Termin", at=later, actor=actor_for(coordinator), seen=shown)
    assert case.icd10_code == "C18.7" and case.session_id != target.id
    assert len(db_session.scalars(select(AuditEvent).where(AuditEvent.tag == Tag.CASE_EDIT)).all()) == 1
    cases.move_case(db_session, case, target, reason="Termin", at=later, actor=actor_for(coordinator),
                    seen=cases.case_version(case))  # fmt: skip
    assert case.session_id == target.id


def test_the_case_page_sends_its_version_and_a_second_window_gets_409(client, demo):
    import re

    from tests.conftest import csrf_from, login
    from tumorboard.cases.agenda import versions as agenda_versions
    from tumorboard.cases.models import Case, CaseStatus

    case = next(
        c
        for c in demo.scalars(select(Case).where(Case.status == CaseStatus.REGISTERED).order_by(Case.id))
        if not agenda_versions(demo, c.session)
    )
    login(client, "koordination")
    page = client.get(f"/cases/{case.id}").text
    token = csrf_from(page)
    seen = re.search(r'id="seen" name="seen" type="hidden" value="([^"]+)"', page)
    assert seen, "the edit form carries the case's version"
    fields = {"csrf_token": token, "seen": seen.group(1), "icd10_code": case.icd10_code, "icd10_text": case.icd10_text,
              "conference_type": case.conference_type.value}  # fmt: skip
    first = client.post(f"/cases/{case.id}/edit", data={**fields, "question": "Erste Fassung?"}, follow_redirects=True)
    assert first.status_code == 200 and "Fall gespeichert." in first.text
    second = client.post(f"/cases/{case.id}/edit", data={**fields, "question": "Zweites Fenster?"})
    assert second.status_code == 409 and "inzwischen geändert" in second.text
    demo.expire_all()
    assert demo.get(Case, case.id).question == "Erste Fassung?"
    again = re.search(r'id="seen" name="seen" type="hidden" value="([^"]+)"', second.text)
    assert again and again.group(1) != seen.group(1)  # the page drawn again shows the version now in force
