"""Need-to-know (issue 10): names only for those who need them, a Notfallzugriff with a reason otherwise, and an
access event for every read of patient data — lists included."""

from __future__ import annotations

from sqlalchemy import select

from tests.cases.factories import register, upcoming_sessions
from tests.conftest import NOW, csrf_from, login
from tumorboard.access.models import EmergencyAccess
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.models import User
from tumorboard.cases.models import Case
from tumorboard.conferences.models import Board


def _brust_case(db) -> Case:
    board = db.scalar(select(Board).where(Board.short_name == "Brust"))
    case = db.scalars(select(Case).where(Case.board_id == board.id).order_by(Case.id)).first()
    assert case is not None
    return case


def _events(db, tag: str) -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)))


def test_a_physician_of_another_board_needs_a_notfallzugriff_with_a_reason(client, demo):
    case = _brust_case(demo)  # dr.krueger is a member of Viszeral, not of Brust
    assert case.presenter is None or case.presenter.username != "dr.krueger"
    login(client, "dr.krueger")
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 403
    assert "Notfallzugriff" in page.text and "nicht zu Ihren Konferenzen" in page.text
    assert case.patient.family_name not in page.text and case.question not in page.text
    for path in (f"/cases/{case.id}/recommendation", f"/cases/{case.id}/recommendation.pdf"):
        assert client.get(path).status_code == 403
    token = csrf_from(page.text)
    refused = client.post(f"/cases/{case.id}/emergency", data={"csrf_token": token, "reason": "kurz"})
    assert refused.status_code == 422 and "mindestens 10 Zeichen" in refused.text
    assert demo.scalar(select(EmergencyAccess.id)) is None
    granted = client.post(f"/cases/{case.id}/emergency", data={"csrf_token": token, "next": f"/cases/{case.id}",
                          "reason": "Patient in der Notaufnahme, Vorbefunde nötig"})  # fmt: skip
    assert granted.status_code == 303 and granted.headers["Location"] == f"/cases/{case.id}"
    opened = client.get(f"/cases/{case.id}")
    assert opened.status_code == 200 and case.patient.family_name in opened.text
    view = _events(demo, "case:case:view")[-1]
    assert view.actor_label == "user:dr.krueger" and view.after == {"emergency": True}
    grant = _events(demo, "access:emergency:grant")
    assert len(grant) == 1 and grant[0].reason == "Patient in der Notaufnahme, Vorbefunde nötig"
    # QM sees who, when, why — the patient only as a pseudonym
    login(client, "qm")
    listing = client.get("/qm/emergency").text
    assert "dr.krueger" in listing and "Vorbefunde nötig" in listing and "P-" in listing
    assert case.patient.family_name not in listing


def test_a_physician_reads_the_cases_they_registered_in_any_board(client, demo):
    krueger = demo.scalar(select(User).where(User.username == "dr.krueger"))
    board = demo.scalar(select(Board).where(Board.short_name == "Haut"))
    case = register(demo, board, at=NOW, by=krueger, target=upcoming_sessions(demo, board, NOW)[1], question="Frage")
    demo.commit()
    login(client, "dr.krueger")
    assert client.get(f"/cases/{case.id}").status_code == 200
    page = client.get(f"/sessions/{case.session_id}").text
    assert case.patient.family_name in page  # own case with its name ...
    others = [c for c in demo.scalars(select(Case).where(Case.session_id == case.session_id))
              if krueger.id not in (c.registered_by_id, c.presenter_id)]  # fmt: skip
    assert others and all(c.patient.family_name not in page for c in others)  # ... the others pseudonymised


def test_lists_show_names_to_members_and_pseudonyms_to_others_and_every_list_read_is_logged(client, demo):
    case = _brust_case(demo)
    names = [c.patient.family_name for c in demo.scalars(select(Case).where(Case.session_id == case.session_id))]
    login(client, "dr.schmitz")  # a member of Brust
    for path in (f"/sessions/{case.session_id}", f"/sessions/{case.session_id}/live"):
        page = client.get(path).text
        assert all(name in page for name in names), path
    listed = _events(demo, "case:list:view")[-1]
    assert listed.actor_label == "user:dr.schmitz" and set(listed.after["case_ids"]) >= {case.id}
    assert _events(demo, "attendance:live:view")[-1].subject_id == str(case.session_id)
    for user in ("dr.krueger", "qm", "admin"):  # not a member / names not needed / no need-to-know
        login(client, user)
        for path in (f"/sessions/{case.session_id}", f"/sessions/{case.session_id}/live"):
            page = client.get(path).text
            assert not any(name in page for name in names), (user, path)
            assert "pseudonymisiert" in page
    qm_read = next(e for e in _events(demo, "case:list:view") if e.actor_label == "user:qm")
    assert "case_ids" not in qm_read.after and case.id in qm_read.after["pseudonymised"]
    login(client, "qm")
    assert client.get(f"/sessions/{case.session_id}/protocol").status_code == 200
    assert _events(demo, "protocol:protocol:view")[-1].actor_label == "user:qm"


def test_search_finds_only_patients_of_the_physicians_boards(client, demo):
    case = _brust_case(demo)
    login(client, "dr.krueger")
    page = client.get("/search")
    found = client.post("/search", data={"csrf_token": csrf_from(page.text), "q": case.patient.family_name})
    assert found.status_code == 200 and case.patient.given_name not in found.text
    login(client, "dr.schmitz")
    page = client.get("/search")
    found = client.post("/search", data={"csrf_token": csrf_from(page.text), "q": case.patient.family_name})
    assert case.patient.given_name in found.text
    assert case.id in _events(demo, "patient:search:query")[-1].after["case_ids"]
