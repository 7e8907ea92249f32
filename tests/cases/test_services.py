"""Case services on the real database (SQLite, and PostgreSQL in the second run)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.cases.factories import make_patient, register, upcoming_sessions
from tests.factories import make_board, make_user
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.cases import checklist
from tumorboard.cases import services as cases
from tumorboard.cases.documents import DocumentStore, add_document
from tumorboard.cases.models import CaseStatus
from tumorboard.conferences import services as conf
from tumorboard.errors import Conflict, InvalidInput, PermissionDenied
from tumorboard.patients.services import search_patients

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # Monday 09:00 Berlin
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def setup(db_session):
    board = make_board(db_session, NOW)  # Tuesdays 15:15, deadline Monday 12:00
    physician = make_user(db_session, NOW, role="physician")
    coordinator = make_user(db_session, NOW, role="coordinator")
    sessions = upcoming_sessions(db_session, board, NOW)
    return board, physician, coordinator, sessions


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"icd10_code": "C187"}, "icd10_code"),
        ({"icd10_code": "Darmkrebs"}, "icd10_code"),
        ({"question": ""}, "question"),
        ({"question": "   "}, "question"),
        ({"icdo_morphology": "81403"}, "icdo_morphology"),
        ({"ecog": 7}, "ecog"),
        ({"conference_type": "irgendwas"}, "conference_type"),
        ({"icd10_text": ""}, "icd10_text"),
    ],
)
def test_bad_case_input_changes_nothing(db_session, setup, overrides, field):
    board, physician, _, sessions = setup
    patient = make_patient(db_session, NOW)
    with pytest.raises(InvalidInput) as info:
        register(db_session, board, at=NOW, by=physician, patient=patient, **overrides)
    assert info.value.field == field
    assert cases.session_cases(db_session, sessions[0]) == []


def test_icd10_formats_accepted(db_session, setup):
    board, physician, _, _ = setup
    for code in ("C18.7", "c50.4 l", "C61", "C50.41", "D05.1 R", "C34.1"):
        case = register(db_session, board, at=NOW, by=physician, icd10_code=code)
        assert case.icd10_code == code.upper()


def test_birth_date_in_the_future_is_refused(db_session, setup):
    with pytest.raises(InvalidInput, match="Zukunft"):
        make_patient(db_session, NOW, birth_date=dt.date(2027, 1, 1))


def test_registration_goes_to_next_open_session_and_is_appended(db_session, setup):
    board, physician, _, sessions = setup
    first = register(db_session, board, at=NOW, by=physician)
    second = register(db_session, board, at=NOW, by=physician)
    assert first.session_id == second.session_id == sessions[0].id
    assert (first.position, second.position) == (1, 2) and not first.is_late


def test_physician_cannot_place_a_late_case(db_session, setup):
    board, physician, _, sessions = setup
    after_deadline = conf.registration_deadline(sessions[0]) + dt.timedelta(minutes=1)
    with pytest.raises(PermissionDenied):
        register(db_session, board, at=after_deadline, by=physician, target=sessions[0])


def test_patient_number_must_agree_with_name_and_birth_date(db_session, setup):
    make_patient(db_session, NOW, patient_number="KIS-X1")
    same = cases.resolve_patient(
        db_session,
        cases.PatientInput("MUELLER", "juergen", dt.date(1956, 3, 14), "M", "KIS-X1"),
        partner=None,
        at=NOW,
        actor=CLI,
    )
    assert same.patient_number == "KIS-X1"
    with pytest.raises(Conflict):
        cases.resolve_patient(
            db_session,
            cases.PatientInput("Meier", "Jürgen", dt.date(1956, 3, 14), "M", "KIS-X1"),
            partner=None,
            at=NOW,
            actor=CLI,
        )


def test_duplicate_on_an_upcoming_session_is_found_across_boards(db_session, setup):
    board, physician, _, _ = setup
    other = make_board(db_session, NOW, rrule="FREQ=WEEKLY;BYDAY=TH")
    patient = make_patient(db_session, NOW)
    register(db_session, board, at=NOW, by=physician, patient=patient)
    assert len(cases.upcoming_cases_of_patient(db_session, patient, NOW)) == 1
    register(db_session, other, at=NOW, by=physician, patient=patient)
    assert len(cases.upcoming_cases_of_patient(db_session, patient, NOW)) == 2


def test_reorder_move_withdraw_and_audit(db_session, setup):
    board, physician, _coordinator, sessions = setup
    a, b, c = (register(db_session, board, at=NOW, by=physician) for _ in range(3))
    cases.reorder_cases(db_session, sessions[0], [c.id, a.id, b.id], at=NOW, actor=CLI)
    assert [x.id for x in cases.session_cases(db_session, sessions[0])] == [c.id, a.id, b.id]
    with pytest.raises(Conflict):
        cases.reorder_cases(db_session, sessions[0], [c.id, a.id], at=NOW, actor=CLI)
    cases.move_case_by(db_session, b, -1, at=NOW, actor=CLI)
    assert [x.id for x in cases.session_cases(db_session, sessions[0])] == [c.id, b.id, a.id]
    with pytest.raises(InvalidInput, match="Grund"):
        cases.withdraw_case(db_session, a, reason="", at=NOW, actor=CLI)
    cases.withdraw_case(db_session, a, reason="Patient verstorben", at=NOW, actor=CLI)
    assert a.status is CaseStatus.WITHDRAWN
    assert [(x.id, x.position) for x in cases.session_cases(db_session, sessions[0])] == [(c.id, 1), (b.id, 2)]
    cases.move_case(db_session, c, sessions[1], reason="Befunde fehlen", at=NOW, actor=CLI)
    assert c.session_id == sessions[1].id and c.position == 1 and not c.is_late
    assert [x.position for x in cases.session_cases(db_session, sessions[0])] == [1]
    tags = set(db_session.scalars(select(AuditEvent.tag).where(AuditEvent.tag.startswith("case:"))))
    assert {"case:case:register", "case:list:reorder", "case:case:withdraw", "case:case:move"} <= tags


def test_move_to_a_cancelled_session_is_refused_and_changes_nothing(db_session, setup):
    board, physician, _, sessions = setup
    case = register(db_session, board, at=NOW, by=physician)
    conf.cancel_session(db_session, sessions[1], reason="Kongress", at=NOW, actor=CLI)
    with pytest.raises(InvalidInput, match="abgesagt"):
        cases.move_case(db_session, case, sessions[1], reason="verschieben", at=NOW, actor=CLI)
    assert case.session_id == sessions[0].id and case.position == 1


def test_status_flow(db_session, setup):
    board, physician, _, _ = setup
    case = register(db_session, board, at=NOW, by=physician)
    with pytest.raises(Conflict):
        cases.set_case_status(db_session, case, "discussed", at=NOW, actor=CLI)
    cases.set_case_status(db_session, case, "complete", at=NOW, actor=CLI)
    cases.set_case_status(db_session, case, "discussed", at=NOW, actor=CLI)
    assert case.status is CaseStatus.DISCUSSED
    with pytest.raises(Conflict):
        cases.withdraw_case(db_session, case, reason="zu spät", at=NOW, actor=CLI)


def test_documents_are_pdf_only_limited_and_stored_under_our_names(db_session, setup, tmp_path: Path):
    board, physician, _, _ = setup
    case = register(db_session, board, at=NOW, by=physician)
    store = DocumentStore(tmp_path / "documents")

    def attach(data: bytes, name: str = "../../etc/Befund Müller.pdf", ctype: str = "application/pdf"):
        return add_document(
            db_session,
            case,
            data=data,
            original_name=name,
            content_type=ctype,
            kind="pathology",
            uploaded_by=physician,
            store=store,
            at=NOW,
            actor=CLI,
        )

    with pytest.raises(InvalidInput, match="Nur PDF"):
        attach(b"MZ\x90\x00 not a pdf", "befund.pdf")
    with pytest.raises(InvalidInput, match="zu groß"):
        attach(b"%PDF-" + b"0" * (20 * 1024 * 1024))
    assert not store.root.exists() or list(store.root.iterdir()) == []
    doc = attach(PDF)
    files = list(store.root.iterdir())
    assert [f.name for f in files] == [doc.stored_name] and files[0].read_bytes() == PDF
    assert "Müller" not in doc.stored_name and doc.original_name == "Befund Müller.pdf"
    items = checklist.items_of(db_session, board)
    result = {r.rule: r.done for r in checklist.evaluate(case, items, imaging_complete=None)}
    assert result["histology"] is True and result["question"] is True


def test_manual_checklist_items(db_session, setup):
    board, physician, coordinator, _ = setup
    checklist.set_board_checklist(
        db_session, board, "Fragestellung = question\nTumorboard-Bogen unterschrieben", at=NOW, actor=CLI
    )
    with pytest.raises(InvalidInput):
        checklist.set_board_checklist(db_session, board, "Etwas = magie", at=NOW, actor=CLI)
    case = register(db_session, board, at=NOW, by=physician)
    items = checklist.items_of(db_session, board)
    manual = next(i for i in items if i[2] is None)
    assert [r.done for r in checklist.evaluate(case, items, None)] == [True, False]
    checklist.toggle_mark(db_session, case, manual[0], user_id=coordinator.id, at=NOW, actor=CLI)
    assert [r.done for r in checklist.evaluate(case, items, None)] == [True, True]


def test_search_by_name_regardless_of_umlaut_spelling_id_and_birth_date(db_session):
    p = make_patient(db_session, NOW, family_name="Müller", given_name="Jürgen", patient_number="KIS-S1")
    make_patient(
        db_session, NOW, family_name="Weiß", given_name="Anna", patient_number="KIS-S2", birth_date=dt.date(1970, 1, 2)
    )
    for query in (
        "Müller",
        "Mueller",
        "MUELLER",
        "müller jürgen",
        "Juergen Mueller",
        "KIS-S1",
        "14.03.1956",
        "1956-03-14",
    ):
        assert p in search_patients(db_session, query), query
    assert [x.patient_number for x in search_patients(db_session, "weiss")] == ["KIS-S2"]
    assert search_patients(db_session, "x") == []


def test_a_too_long_reason_is_refused_not_cut(db_session, setup):
    """One reason rule for cases and sessions (audit.services.require_reason): cases used to cut at 1000 characters
    and store what the user had not written; now both refuse with the same German message."""
    board, physician, _, sessions = setup
    case = register(db_session, board, at=NOW, by=physician)
    for change in (
        lambda reason: cases.withdraw_case(db_session, case, reason=reason, at=NOW, actor=CLI),
        lambda reason: cases.move_case(db_session, case, sessions[1], reason=reason, at=NOW, actor=CLI),
        lambda reason: conf.cancel_session(db_session, sessions[0], reason=reason, at=NOW, actor=CLI),
    ):
        with pytest.raises(InvalidInput, match="höchstens 1000 Zeichen"):
            change("x" * 1001)
        with pytest.raises(InvalidInput, match="Grund"):
            change("ab")
    assert case.status is CaseStatus.REGISTERED and case.session_id == sessions[0].id
    cases.withdraw_case(db_session, case, reason="x" * 1000, at=NOW, actor=CLI)
    assert case.withdraw_reason == "x" * 1000


def test_register_case_is_the_whole_registration(db_session, setup):
    """What the registration view did inline: patient by KIS number, duplicates only when confirmed, a chosen
    session only by the coordination, then the case, audited."""
    from tests.cases.factories import case_input
    from tumorboard.auth.services import actor_for

    board, physician, coordinator, sessions = setup
    patient = cases.PatientInput(
        family_name="Schäfer", given_name="Anna", birth_date=dt.date(1960, 5, 1), sex="W", patient_number="KIS-R1"
    )
    form = cases.Registration(board_id=board.id, patient=patient, case=case_input())
    first = cases.register_case(db_session, form, registered_by=physician, at=NOW, actor=actor_for(physician))
    assert first.session_id == sessions[0].id and first.patient.patient_number == "KIS-R1" and not first.is_late
    with pytest.raises(cases.DuplicateRegistration) as duplicate:
        cases.register_case(db_session, form, registered_by=physician, at=NOW, actor=actor_for(physician))
    assert duplicate.value.cases == [first]
    chosen = cases.Registration(
        board_id=board.id, patient=patient, case=case_input(), session_id=sessions[1].id, confirm_duplicate=True
    )
    with pytest.raises(InvalidInput, match="wählt die Koordination"):
        cases.register_case(db_session, chosen, registered_by=physician, at=NOW, actor=actor_for(physician))
    second = cases.register_case(db_session, chosen, registered_by=coordinator, at=NOW, actor=actor_for(coordinator))
    assert second.session_id == sessions[1].id and second.patient_id == first.patient_id
    registered = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "case:case:register")).all()
    assert {e.subject_id for e in registered} == {str(first.id), str(second.id)}


def test_checklist_rules_are_enum_members(db_session, setup):
    board, *_ = setup
    checklist.set_board_checklist(db_session, board, "Histo = HISTOLOGY\nBogen", at=NOW, actor=CLI)
    rules = [rule for _id, _label, rule in checklist.items_of(db_session, board)]
    assert rules == [checklist.ChecklistRule.HISTOLOGY, None]
    assert [rule for _label, rule in checklist.DEFAULT_ITEMS] == list(checklist.ChecklistRule)
