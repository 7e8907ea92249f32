"""Frozen agendas are rendered once, at the freeze, and downloaded as kept (issue 12, point 8)."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from tests.cases.factories import make_patient, register, upcoming_sessions
from tests.conftest import login
from tests.factories import make_board, make_user
from tumorboard.cases.jobs import freeze_agendas
from tumorboard.cases.models import AgendaVersion
from tumorboard.conferences.services import registration_deadline
from tumorboard.exports import agenda as agenda_export
from tumorboard.exports import downloads


@pytest.fixture
def frozen(runtime, db_session, clock):
    at = clock.now()
    board = make_board(db_session, at)
    physician = make_user(db_session, at, role="physician")
    make_user(db_session, at, role="coordinator", username="planer")
    first, *_ = upcoming_sessions(db_session, board, at)
    for name in ("Özdemir", "Gößling"):
        register(db_session, board, at=at, by=physician, patient=make_patient(db_session, at, name))
    db_session.commit()
    clock.current = registration_deadline(first)
    assert freeze_agendas(runtime) == 1  # its own session and commit, as in the scheduler
    row = db_session.scalar(select(AgendaVersion).where(AgendaVersion.session_id == first.id))
    db_session.refresh(row)
    return first, row


def test_the_freeze_keeps_the_pdf_and_its_sha256(frozen):
    _, row = frozen
    assert row.pdf is not None and row.pdf.startswith(b"%PDF-")
    assert row.pdf_sha256 == hashlib.sha256(row.pdf).hexdigest()


def test_a_frozen_version_downloads_as_kept_without_rendering(frozen, client, monkeypatch):
    cs, row = frozen

    def no_rendering(*args, **kwargs):
        raise AssertionError("a frozen version must not be rendered again")

    # both names: downloads imported the function by name (imported above, so it holds the real one)
    monkeypatch.setattr(agenda_export, "render_agenda_pdf", no_rendering)
    monkeypatch.setattr(downloads, "render_agenda_pdf", no_rendering)
    login(client, "planer", "correct horse battery")
    first = client.get(f"/sessions/{cs.id}/agenda.pdf")
    second = client.get(f"/sessions/{cs.id}/agenda.pdf")
    assert first.status_code == second.status_code == 200
    assert first.data == second.data == row.pdf


def test_a_kept_pdf_that_no_longer_matches_its_hash_is_rendered_again(frozen, client, db_session):
    cs, row = frozen
    row.pdf = b"%PDF-1.7 not what was frozen"
    db_session.commit()
    login(client, "planer", "correct horse battery")
    response = client.get(f"/sessions/{cs.id}/agenda.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert response.data != b"%PDF-1.7 not what was frozen"
    db_session.refresh(row)
    assert row.pdf == response.data and row.pdf_sha256 == hashlib.sha256(response.data).hexdigest()


def test_a_version_frozen_before_pdfs_were_kept_is_kept_at_its_first_download(frozen, client, db_session):
    cs, row = frozen
    row.pdf, row.pdf_sha256 = None, None
    db_session.commit()
    login(client, "planer", "correct horse battery")
    response = client.get(f"/sessions/{cs.id}/agenda.pdf")
    assert response.status_code == 200
    db_session.refresh(row)
    assert row.pdf == response.data and row.pdf_sha256 == hashlib.sha256(response.data).hexdigest()
