"""Triage inbox and previews in the browser (Flask test client), with roles, CSRF and the audit trail."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW, csrf_from, login, post_form
from tests.imaging.factories import make_case, receive
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.cases.models import Case
from tumorboard.conferences.models import Board
from tumorboard.imaging import jobs
from tumorboard.imaging.models import ImagingStudy
from tumorboard.partners.services import create_partner


@pytest.fixture
def inbox(runtime, demo):
    partner = create_partner(demo, name="Klinikum Triage", at=NOW, actor=CLI)
    case = make_case(demo, NOW, family="Müller", given="Jürgen", birth=dt.date(1958, 3, 14))
    study = receive(
        demo, jobs._spool(runtime), partner, patient_name="Mueller^Juergen", patient_id="X-77", birth_date="19580314"
    )
    demo.commit()
    return case, study


@pytest.mark.parametrize(("user", "code"), [("koordination", 200), ("admin", 200), ("dr.berger", 403), ("qm", 403)])
def test_triage_inbox_roles(client, inbox, user, code):
    login(client, user)
    assert client.get("/imaging/triage").status_code == code


def test_coordinator_assigns_the_suggested_case_with_one_click(client, inbox, demo):
    case, study = inbox
    login(client, "koordination")
    page = client.get("/imaging/triage").text
    assert "Mueller, Juergen" in page and "Müller, Jürgen" in page and "Diesem Fall zuordnen" in page
    status, page = post_form(
        client, "/imaging/triage", f"/imaging/studies/{study.id}/assign", {"case_id": str(case.id)}
    )
    assert status == 200 and "Studie dem Fall zugeordnet." in page
    demo.expire_all()
    assert demo.get(ImagingStudy, study.id).case_id == case.id
    ev = demo.scalars(select(AuditEvent).where(AuditEvent.tag == "imaging:study:assign")).one()
    assert ev.actor_label == "user:koordination" and ev.after["method"] == "manual"
    assert "Alle empfangenen Studien sind einem Fall zugeordnet." in client.get("/imaging/triage").text


def test_assign_without_csrf_changes_nothing(client, inbox, demo):
    case, study = inbox
    login(client, "koordination")
    response = client.post(f"/imaging/studies/{study.id}/assign", data={"case_id": str(case.id)})
    assert response.status_code in (302, 400)
    demo.expire_all()
    assert demo.get(ImagingStudy, study.id).case_id is None


def test_preview_is_served_to_case_readers_only_and_missing_ones_are_404(runtime, client, inbox, demo):
    case, study = inbox
    assert jobs.render_previews(runtime) == 1
    series_id = study.series[0].id
    # need-to-know (issue 10): a study in the inbox belongs to no case yet, so only triage sees it
    login(client, "dr.berger")
    assert client.get(f"/imaging/series/{series_id}/preview.png").status_code == 403
    from tumorboard.access.services import set_member
    from tumorboard.auth.models import User
    from tumorboard.imaging.matching import assign_study

    assign_study(demo, study, case, at=NOW, actor=CLI)
    berger = demo.scalar(select(User).where(User.username == "dr.berger"))
    demo.commit()
    assert client.get(f"/imaging/series/{series_id}/preview.png").status_code == 403  # not a member of the board
    set_member(demo, case.board, berger, "member", at=NOW, actor=CLI)
    demo.commit()
    response = client.get(f"/imaging/series/{series_id}/preview.png")
    assert response.status_code == 200 and response.mimetype == "image/png" and response.data.startswith(b"\x89PNG")
    response.close()
    assert client.get("/imaging/series/999999/preview.png").status_code == 404


def test_case_imaging_macro_renders_states(app, runtime, inbox, demo):
    from flask import render_template_string

    from tumorboard.imaging.matching import assign_study
    from tumorboard.imaging.summaries import imaging_summaries

    case, study = inbox
    assign_study(demo, study, case, at=NOW, actor=CLI)
    jobs.render_previews(runtime)
    summaries = imaging_summaries(demo, [case.id])
    template = '{% from "imaging/_case_imaging.html" import case_imaging %}{{ case_imaging(s) }}'
    with app.test_request_context():
        html = render_template_string(template, s=summaries[case.id])
    assert "Empfang läuft (1 Bild)" in html and "Klinikum Triage" in html and "CT Thorax/Abdomen" in html
    assert f"/imaging/series/{study.series[0].id}/preview.png" in html
    # The agenda PDF fetches nothing but data: URIs and our static files.
    from tumorboard.imaging.previews import preview_data_uri

    store = jobs._spool(runtime)
    uris = {p.series_id: preview_data_uri(store, p) for p in summaries[case.id].previews}
    assert all(u and u.startswith("data:image/png;base64,") for u in uris.values())
    with app.test_request_context():
        html = render_template_string(
            '{% from "imaging/_case_imaging.html" import case_imaging %}{{ case_imaging(s, preview_url=u.get) }}',
            s=summaries[case.id],
            u=uris,
        )
    assert "data:image/png;base64," in html and "/imaging/series/" not in html


# --- "create a case with one click" from the triage inbox ---------------------------------------------------------
def _prefill(client, study_id: int):
    """The triage's button: a POST carrying only the study's id (no patient data in any URL)."""
    token = csrf_from(client.get("/imaging/triage").text)
    return client.post("/cases/new", data={"csrf_token": token, "from_study": str(study_id), "prefill": "1"})


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or re.search(
        rf'value="([^"]*)"[^>]*name="{name}"', html
    )
    return found.group(1) if found else ""


def test_new_case_from_a_study_takes_over_its_data_and_the_study(client, inbox, demo):
    _case, study = inbox
    login(client, "koordination")
    triage = client.get("/imaging/triage").text
    assert "Neuen Fall aus dieser Studie anlegen" in triage and 'name="prefill"' in triage
    page = _prefill(client, study.id)
    assert page.status_code == 200 and page.request.path == "/cases/new" and not page.request.query_string
    html = page.text
    # The values as received (decoded), for the coordinator to check: nothing is changed yet.
    assert _field(html, "family_name") == "Mueller" and _field(html, "given_name") == "Juergen"
    assert _field(html, "birth_date") == "1958-03-14" and _field(html, "partner_patient_id") == "X-77"
    assert _field(html, "from_study") == str(study.id)
    assert re.search(rf'<option selected value="{study.partner_id}">', html) or re.search(
        rf'<option value="{study.partner_id}" selected>', html
    )
    assert re.search(r'<option selected value="W">|<option value="W" selected>', html)  # DICOM F → weiblich
    assert re.search(r'name="imaging_expected"[^>]*checked|checked[^>]*name="imaging_expected"', html)
    assert "Klinikum Triage" in html and "nach dem Anmelden wird die Studie diesem Fall zugeordnet" in html
    assert demo.scalar(select(func.count()).select_from(Case)) == 45 + 1  # the inbox fixture's case only

    lunge = demo.scalar(select(Board).where(Board.short_name == "Lunge"))
    form = {
        "csrf_token": csrf_from(html),
        "from_study": str(study.id),
        "board": str(lunge.id),
        "session": "0",
        "family_name": "Mueller",
        "given_name": "Juergen",
        "birth_date": "1958-03-14",
        "sex": "M",  # corrected by the coordinator
        "patient_number": "KIS-580314",
        "referring_partner": str(study.partner_id),
        "partner_patient_id": "X-77",
        "icd10_code": "C34.1",
        "icd10_text": "Adenokarzinom Oberlappen",
        "conference_type": "praeth",
        "question": "Operation?",
        "presenter": "0",
        "accession_number": "",
        "imaging_expected": "y",
    }
    response = client.post("/cases/new", data=form)
    assert response.status_code == 303, response.text
    demo.expire_all()
    new_case = demo.scalars(select(Case).order_by(Case.id.desc())).first()
    assert response.headers["Location"].endswith(f"/cases/{new_case.id}")
    assert new_case.patient.family_name == "Mueller" and new_case.patient.patient_number == "KIS-580314"
    stored = demo.get(ImagingStudy, study.id)
    assert stored.case_id == new_case.id and stored.match_method.value == "manual"
    assert stored.patient_name == "Mueller^Juergen"  # the values as received are kept
    tags = [e.tag for e in demo.scalars(select(AuditEvent).where(AuditEvent.actor_label == "user:koordination"))]
    assert "case:case:register" in tags and "imaging:study:assign" in tags
    detail = client.get(f"/cases/{new_case.id}").text
    assert "Die Studie aus dem Bildeingang ist diesem Fall zugeordnet." in detail
    assert "Alle empfangenen Studien sind einem Fall zugeordnet." in client.get("/imaging/triage").text


def test_new_case_from_a_study_is_for_coordinators_only(client, inbox, demo):
    _case, study = inbox
    login(client, "dr.berger")  # physicians register cases but do not triage the inbox
    token = csrf_from(client.get("/cases/new").text)
    response = client.post("/cases/new", data={"csrf_token": token, "from_study": str(study.id), "prefill": "1"})
    assert response.status_code == 403
    demo.expire_all()
    assert demo.get(ImagingStudy, study.id).case_id is None


def test_study_assigned_meanwhile_keeps_the_typed_form_and_creates_nothing(client, inbox, demo):
    case, study = inbox
    login(client, "koordination")
    html = _prefill(client, study.id).text
    from tumorboard.imaging.matching import assign_study

    assign_study(demo, demo.get(ImagingStudy, study.id), case, at=NOW, actor=CLI)  # someone else, meanwhile
    demo.commit()
    cases_before = demo.scalar(select(func.count()).select_from(Case))
    lunge = demo.scalar(select(Board).where(Board.short_name == "Lunge"))
    response = client.post(
        "/cases/new",
        data={
            "csrf_token": csrf_from(html),
            "from_study": str(study.id),
            "board": str(lunge.id),
            "family_name": "Mueller",
            "given_name": "Juergen",
            "birth_date": "1958-03-14",
            "sex": "M",
            "patient_number": "KIS-580314",
            "icd10_code": "C34.1",
            "icd10_text": "Adenokarzinom",
            "question": "Operation?",
            "referring_partner": "0",
            "presenter": "0",
        },
    )
    assert response.status_code == 409
    assert "Diese Studie ist inzwischen einem Fall zugeordnet." in response.text
    assert _field(response.text, "patient_number") == "KIS-580314" and _field(response.text, "from_study") == ""
    demo.expire_all()
    assert demo.scalar(select(func.count()).select_from(Case)) == cases_before
    assert demo.get(ImagingStudy, study.id).case_id == case.id


def test_case_list_checklist_sees_complete_imaging(runtime, client, inbox, demo):
    """The session's case list ticks "Bildgebung eingegangen" once the case's study is complete, as the case page
    does (it asked the summary for an attribute it does not have, so the item stayed open)."""
    from tumorboard.imaging.matching import assign_study
    from tumorboard.imaging.services import complete_quiet_studies

    case, study = inbox
    assign_study(demo, study, case, at=NOW, actor=CLI)
    demo.commit()
    login(client, "koordination")
    page = client.get(f"/sessions/{case.session_id}").text
    assert "✗ Bildgebung eingegangen" in page  # receiving: not yet
    assert complete_quiet_studies(demo, at=NOW + dt.timedelta(days=1), actor=CLI) == [study]
    demo.commit()
    page = client.get(f"/sessions/{case.session_id}").text
    assert "✓ Bildgebung eingegangen" in page and "✗ Bildgebung eingegangen" not in page
    assert "✓ Bildgebung eingegangen" in client.get(f"/cases/{case.id}").text  # the case page agrees


def test_triage_shows_a_study_under_a_generated_key_with_a_note_and_the_value_received(runtime, client, demo):
    """Issue 12, point 1: the study is in the inbox, says why, and shows what was received (escaped)."""
    import warnings

    partner = create_partner(demo, name="Klinikum Alt", at=NOW, actor=CLI)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid UI values
        broken = receive(demo, jobs._spool(runtime), partner, study_uid="1.2.<b>x</b>", series_uid="1.2.3.9")
        receive(demo, jobs._spool(runtime), partner, study_uid="1.2.3.10", series_uid="Serie-A", number=2)
    demo.commit()
    login(client, "koordination")
    page = client.get("/imaging/triage").text
    assert "Die Study Instance UID des Absenders ist keine gültige UID (empfangen: „1.2.&lt;b&gt;x&lt;/b&gt;“)." in page
    assert f"vom Server vergebenen Schlüssel gespeichert ({broken.study_uid})" in page
    assert broken.study_uid.startswith("2.25.") and "<b>x</b>" not in page
    assert "Serie 1: Series Instance UID ungültig (empfangen: „Serie-A“), gespeichert unter dem Schlüssel 2.25." in page


def test_a_wrong_case_number_is_a_message_at_the_study_not_a_404_page(client, inbox, demo):
    """Issue 13."""
    _, study = inbox
    login(client, "koordination")
    status, page = post_form(client, "/imaging/triage", f"/imaging/studies/{study.id}/assign", {"case_id": "999999"})
    assert status == 200 and "Einen Fall mit dieser Nummer gibt es nicht." in page
    demo.expire_all()
    assert demo.get(ImagingStudy, study.id).case_id is None


def test_a_study_sent_by_mistake_is_rejected_kept_audited_and_purged_with_the_retention_rule(
    runtime, client, inbox, demo
):
    """Issue 13: out of the inbox, still on record, purged ``retention_days`` after the rejection."""
    _, study = inbox
    login(client, "koordination")
    status, page = post_form(client, "/imaging/triage", f"/imaging/studies/{study.id}/reject", {"reason": ""})
    assert status == 200 and "Bitte einen Grund angeben, warum die Studie abgelehnt wird." in page
    status, page = post_form(
        client, "/imaging/triage", f"/imaging/studies/{study.id}/reject", {"reason": "Falscher Patient vom Partner"}
    )
    assert status == 200 and "Studie abgelehnt" in page
    assert "Mueller, Juergen" not in client.get("/imaging/triage").text
    demo.expire_all()
    row = demo.get(ImagingStudy, study.id)
    assert row is not None and row.rejected_at is not None and row.reject_reason == "Falscher Patient vom Partner"
    ev = demo.scalars(select(AuditEvent).where(AuditEvent.tag == "imaging:study:reject")).one()
    assert ev.reason == "Falscher Patient vom Partner"
    days = runtime.imaging.retention_days
    assert jobs.purge_studies(demo, now=NOW + dt.timedelta(days=days - 1), retention_days=days, actor=CLI) == []
    assert jobs.purge_studies(demo, now=NOW + dt.timedelta(days=days + 1), retention_days=days, actor=CLI)
    assert demo.get(ImagingStudy, study.id).state.value == "purged"


def test_the_case_is_found_by_name_or_birth_date_by_post_and_the_access_is_logged(client, inbox, demo):
    """Issue 13: no internal number needed; the query never travels in a URL."""
    case, study = inbox
    login(client, "koordination")
    status, page = post_form(client, "/imaging/triage", f"/imaging/studies/{study.id}/search", {"q": "14.03.1958"})
    assert status == 200
    results = page.split('class="search-results"', 1)[1].split("</div>", 1)[0]
    assert "Müller, Jürgen" in results and f'value="{case.id}"' in results
    logged = demo.scalars(select(AuditEvent).where(AuditEvent.tag == "imaging:triage:view")).all()
    assert any(case.id in (ev.after or {}).get("case_ids", []) for ev in logged)
    status, page = post_form(client, "/imaging/triage", f"/imaging/studies/{study.id}/search", {"q": "Niemand"})
    assert "Kein angemeldeter Fall passt zu „Niemand“." in page


def test_a_case_number_too_large_for_the_database_is_a_message_not_a_500(client, inbox, demo):
    """25 digits passed ``IntegerField`` and reached SQLite, which refuses such an int with an OverflowError."""
    _case, study = inbox
    login(client, "koordination")
    status, page = post_form(client, "/imaging/triage", f"/imaging/studies/{study.id}/assign", {"case_id": "9" * 25})
    assert status == 200 and "Bitte einen Fall wählen." in page
    demo.expire_all()
    assert demo.get(ImagingStudy, study.id).case_id is None


def test_a_rejected_study_joins_no_case_by_a_stale_page_a_new_case_or_a_rule(runtime, client, inbox, demo):
    """A second coordinator's stale triage page still offers "Diesem Fall zuordnen": the rejected study was
    assigned, kept its rejection, and after an unassign it was out of the inbox and purged. A rule must not bring
    it back either (the partner may send more of its instances)."""
    from tumorboard.imaging import matching

    case, study = inbox
    login(client, "koordination")
    stale = client.get("/imaging/triage").text
    status, page = post_form(client, "/imaging/triage", f"/imaging/studies/{study.id}/reject", {"reason": "Falsch"})
    assert status == 200 and "Studie abgelehnt" in page
    response = client.post(
        f"/imaging/studies/{study.id}/assign",
        data={"csrf_token": csrf_from(stale), "case_id": str(case.id)},
        follow_redirects=True,
    )
    assert "Diese Studie wurde im Bildeingang abgelehnt; sie wird keinem Fall mehr zugeordnet." in response.text
    token = csrf_from(client.get("/cases/new").text)
    taken = client.post("/cases/new", data={"csrf_token": token, "from_study": str(study.id)})
    assert taken.status_code == 409 and "im Bildeingang abgelehnt" in taken.text
    demo.expire_all()
    row = demo.get(ImagingStudy, study.id)
    row.patient_id, row.birth_date = case.patient.patient_number, case.patient.birth_date  # a rule would match
    assert matching.match_study(demo, row, at=NOW, actor=CLI) is None
    assert row.case_id is None and row.rejected_at is not None
    assert demo.scalar(select(func.count()).where(AuditEvent.tag == "imaging:study:assign")) == 0


def test_a_reject_reason_with_a_control_character_is_a_message_at_the_study(client, inbox, demo):
    """It was a bare "Die Anfrage war ungültig." page (HTTP 400)."""
    _, study = inbox
    login(client, "koordination")
    status, page = post_form(client, "/imaging/triage", f"/imaging/studies/{study.id}/reject", {"reason": "a\x00b"})
    assert status == 200 and "Steuerzeichen" in page and "Mueller, Juergen" in page
    demo.expire_all()
    assert demo.get(ImagingStudy, study.id).rejected_at is None
