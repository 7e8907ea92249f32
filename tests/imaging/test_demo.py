"""Demo imaging (what `make run` loads): three studies through the real store, parser, index and matching."""

from __future__ import annotations

import hashlib
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from tests.conftest import login
from tumorboard.auth.actors import CLI
from tumorboard.cases.models import Case
from tumorboard.demo.data import load_demo
from tumorboard.exports.agenda import PRINT_PREVIEW_PX
from tumorboard.imaging.demo import ascii_spelling, phantom
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.matching import triage_inbox
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy, MatchMethod, StudyState
from tumorboard.imaging.summaries import imaging_summaries


@pytest.mark.parametrize(
    ("name", "spelled"),
    [
        ("Müller", "Mueller"),
        ("Weißenfels", "Weissenfels"),
        ("Jürgen", "Juergen"),
        ("Paweł", "Pawel"),
        ("Ayşe", "Ayse"),
        ("Zoë", "Zoe"),
        ("Özdemir", "Oezdemir"),
        ("Krämer-Lüdenscheidt", "Kraemer-Luedenscheidt"),
    ],
)
def test_ascii_spelling(name, spelled):
    assert ascii_spelling(name) == spelled


def test_phantom_has_body_lungs_and_spine():
    middle = phantom(7, 15).astype(int) - 1024  # back to HU
    assert middle.shape == (128, 128)
    assert middle[0, 0] == -1000  # air outside
    assert {-850, 40, 700} <= set(middle.ravel().tolist())
    assert (phantom(0, 15) == 1024 - 850).sum() < (middle == -850).sum()  # the lungs are larger mid-series
    abdomen = set((phantom(7, 15, "ABDOMEN").astype(int) - 1024).ravel().tolist())
    assert {60, 150, 700} <= abdomen and -850 not in abdomen  # liver, kidneys, spine; no lungs


def test_demo_load_receives_three_studies_in_every_state(db_session, clock, tmp_path):
    storage = tmp_path / "imaging"
    assert load_demo(db_session, at=clock.now(), actor=CLI, horizon_weeks=12, imaging_storage=storage)
    db_session.commit()
    studies = db_session.scalars(select(ImagingStudy)).all()
    complete = [s for s in studies if s.state is StudyState.COMPLETE]
    receiving = [s for s in studies if s.state is StudyState.RECEIVING]
    assert len(studies) == 3 and len(complete) == 2 and len(receiving) == 1
    matched = next(s for s in complete if s.case_id is not None)
    waiting = next(s for s in complete if s.case_id is None)
    # 1. complete and assigned by the deterministic rule, two series with rendered previews
    assert matched.match_method is MatchMethod.PATIENT_NUMBER and matched.instance_count == 30
    series = db_session.scalars(select(ImagingSeries).where(ImagingSeries.study_id == matched.id)).all()
    assert sorted(s.instance_count for s in series) == [15, 15]
    assert all(s.preview_name and (storage / "previews" / s.preview_name).stat().st_size > 0 for s in series)
    summary = imaging_summaries(db_session, [matched.case_id])[matched.case_id]
    assert summary.state == "complete" and summary.instance_count == 30 and len(summary.previews) == 2
    # 2. receiving, assigned
    assert receiving[0].case_id is not None and receiving[0].instance_count == 8
    # 3. in the triage inbox, the registered patient suggested first; the name is kept as received
    assert triage_inbox(db_session) == [waiting]
    first = waiting.suggestions[0]
    case = db_session.get(Case, first["case_id"])
    assert case is not None and case.imaging_expected
    assert (
        waiting.patient_name == f"{ascii_spelling(case.patient.family_name)}^{ascii_spelling(case.patient.given_name)}"
    )
    assert waiting.patient_name != f"{case.patient.family_name}^{case.patient.given_name}"
    assert "birth_date" in first["reasons"] and "name" in first["reasons"]
    # every indexed object is in the store under the SHA-256 of its bytes; no temp file is left
    instances = db_session.scalars(select(ImagingInstance)).all()
    assert len(instances) == 30 + 15 + 8
    spool = Spool(storage)
    for instance in instances:
        data = spool.path(f"objects/{instance.sha256[:2]}/{instance.sha256}.dcm").read_bytes()
        assert hashlib.sha256(data).hexdigest() == instance.sha256
    assert list(spool.incoming.iterdir()) == []


def test_case_list_and_agenda_pdf_show_a_preview_per_series(runtime, db_session, clock, client):
    """Issue 4, item 8: the session's case list shows each series' preview (served by the role-checked route),
    and the agenda PDF embeds them scaled for print; a series without a preview is named there with the reason."""
    storage = runtime.imaging.storage_path
    assert load_demo(db_session, at=clock.now(), actor=CLI, horizon_weeks=12, imaging_storage=storage)
    db_session.commit()
    study = db_session.scalars(select(ImagingStudy).where(ImagingStudy.instance_count == 30)).one()
    case = db_session.get(Case, study.case_id)
    series_ids = db_session.scalars(select(ImagingSeries.id).where(ImagingSeries.study_id == study.id)).all()
    login(client, "koordination")
    page = client.get(f"/sessions/{case.session_id}").text
    assert "vollständig (vorläufig), 30 Bilder" in page
    for series_id in series_ids:
        assert f'src="/imaging/series/{series_id}/preview.png"' in page
        with client.get(f"/imaging/series/{series_id}/preview.png") as image:
            assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    response = client.get(f"/sessions/{case.session_id}/agenda.pdf")
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.data))
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)
    assert "vollständig (vorläufig), 30 Bilder" in text
    images = [image for p in reader.pages for image in p.images]
    assert len(images) == 2
    # the embedded pictures are the rendered previews (128 px here), scaled down for print
    assert all(image.image.size == (PRINT_PREVIEW_PX, PRINT_PREVIEW_PX) for image in images)
    broken = db_session.get(ImagingSeries, series_ids[0])
    broken.preview_name, broken.preview_error = None, "Transfersyntax nicht dekodierbar: MPEG2"
    db_session.commit()
    reader = PdfReader(io.BytesIO(client.get(f"/sessions/{case.session_id}/agenda.pdf").data))
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)
    assert f"{broken.series_description} · 15: keine Vorschau: Transfersyntax nicht dekodierbar: MPEG2" in text
    assert len([image for p in reader.pages for image in p.images]) == 1


def test_agenda_previews_say_why_there_is_none(tmp_path):
    from tumorboard.exports.agenda import agenda_previews
    from tumorboard.imaging.summaries import ImagingSummary, SeriesPreview

    summary = ImagingSummary(
        case_id=1,
        imaging_expected=True,
        state="complete",
        instance_count=3,
        previews=(
            SeriesPreview(1, "MR T1", 2, None, "Transfersyntax nicht dekodierbar"),
            SeriesPreview(2, "MR T2", 1, None, None),
        ),
    )
    previews = agenda_previews(summary, tmp_path)
    assert [(p.label, p.src, p.note) for p in previews] == [
        ("MR T1 · 2", None, "keine Vorschau: Transfersyntax nicht dekodierbar"),
        ("MR T2 · 1", None, "Vorschau folgt"),
    ]
    assert agenda_previews(summary, tmp_path, "en")[1].note == "preview coming"
    assert agenda_previews(ImagingSummary(1, True, "purged", 3, previews=summary.previews), tmp_path) == ()
