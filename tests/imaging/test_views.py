"""Triage inbox and previews in the browser (Flask test client), with roles, CSRF and the audit trail."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.conftest import NOW, login, post_form
from tests.imaging.factories import make_case, receive
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
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
    _case, study = inbox
    assert jobs.render_previews(runtime) == 1
    series_id = study.series[0].id
    login(client, "dr.berger")
    response = client.get(f"/imaging/series/{series_id}/preview.png")
    assert response.status_code == 200 and response.mimetype == "image/png" and response.data.startswith(b"\x89PNG")
    response.close()
    assert client.get("/imaging/series/999999/preview.png").status_code == 404


def test_case_imaging_macro_renders_states(app, runtime, inbox, demo):
    from flask import render_template_string

    from tumorboard.imaging.services import assign_study, imaging_summaries

    case, study = inbox
    assign_study(demo, study, case, at=NOW, actor=CLI)
    jobs.render_previews(runtime)
    summaries = imaging_summaries(demo, [case.id])
    template = '{% from "imaging/_case_imaging.html" import case_imaging %}{{ case_imaging(s) }}'
    with app.test_request_context():
        html = render_template_string(template, s=summaries[case.id])
    assert "Empfang läuft (1 Bilder)" in html and "Klinikum Triage" in html and "CT Thorax/Abdomen" in html
    assert f"/imaging/series/{study.series[0].id}/preview.png" in html
    # The agenda PDF fetches nothing but data: URIs and our static files.
    from tumorboard.imaging.services import preview_data_uri

    storage = jobs._spool(runtime).root
    uris = {p.series_id: preview_data_uri(storage, p) for p in summaries[case.id].previews}
    assert all(u and u.startswith("data:image/png;base64,") for u in uris.values())
    with app.test_request_context():
        html = render_template_string(
            '{% from "imaging/_case_imaging.html" import case_imaging %}{{ case_imaging(s, preview_url=u.get) }}',
            s=summaries[case.id],
            u=uris,
        )
    assert "data:image/png;base64," in html and "/imaging/series/" not in html
