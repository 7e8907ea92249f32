"""The oBDS export page for QM and admin (issue 15): a reversed range gets a German message and saves nothing;
an export shows what was not reported and offers the validated document, whose download is audited."""

from __future__ import annotations

import hashlib

import pytest
from lxml import etree
from sqlalchemy import func, select

from tests.conftest import NOW, csrf_from, login
from tests.registry.test_obds_export import registry_runtime, year  # noqa: F401 - fixtures
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.auth.services import create_user
from tumorboard.registry import obds
from tumorboard.registry.models import ObdsExport
from tumorboard.web import create_app


@pytest.fixture
def qm_client(registry_runtime, db_session, year):  # noqa: F811
    create_user(db_session, username="qm.test", display_name="QM Test", password="qm-test-password-1",
                role="qm", at=NOW, actor=CLI)  # fmt: skip
    db_session.commit()
    client = create_app(registry_runtime).test_client()
    login(client, "qm.test", "qm-test-password-1")
    return client


def _post(client, **form):
    token = csrf_from(client.get("/qm/obds/").text)
    return client.post("/qm/obds/", data={"csrf_token": token, **form})


def test_reversed_range_german_message_nothing_saved(qm_client, db_session):
    response = _post(qm_client, **{"from": "2025-12-31", "to": "2025-01-01", "board": ""})
    assert response.status_code == 422
    assert "Das Ende des Zeitraums liegt vor seinem Anfang." in response.text
    assert db_session.scalar(select(func.count()).select_from(ObdsExport)) == 0


def test_export_page_lists_skipped_and_offers_the_valid_document(qm_client, db_session, year):  # noqa: F811
    response = _post(qm_client, **{"from": "2025-01-01", "to": "2025-12-31", "board": ""})
    assert response.status_code == 200, response.text
    assert "Diagnosedatum fehlt" in response.text and "nach dem Sterbedatum" in response.text
    export = db_session.scalars(select(ObdsExport)).one()
    download = qm_client.get(f"/qm/obds/{export.id}.xml")
    assert download.status_code == 200 and download.mimetype == "application/xml"
    assert hashlib.sha256(download.data).hexdigest() == export.sha256
    assert obds.schema().validate(etree.fromstring(download.data).getroottree())
    tags = db_session.scalars(select(AuditEvent.tag).where(AuditEvent.subject_type == "obds_export")).all()
    assert sorted(tags) == ["registry:obds:download", "registry:obds:export"]


@pytest.mark.parametrize("board", ["²", "abc", "9" * 25])
def test_a_board_that_is_no_id_is_a_german_message_not_all_boards(qm_client, db_session, board):
    """A board value that is no id (a superscript digit, letters, 25 digits) was a 500 or, silently, all boards."""
    response = _post(qm_client, **{"from": "2025-01-01", "to": "2025-12-31", "board": board})
    assert response.status_code == 404
    assert "Diese Konferenz gibt es nicht." in response.text
    assert db_session.scalar(select(func.count()).select_from(ObdsExport)) == 0
