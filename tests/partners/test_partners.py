"""Partner registry: services, CLI and the admin page."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.conftest import NOW, login, post_form
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.cli import main
from tumorboard.errors import Conflict, InvalidInput
from tumorboard.partners.models import Partner
from tumorboard.partners.services import (
    add_endpoint,
    authorize_peer,
    create_partner,
    known_ae_title,
    partner_networks,
)


def _run(runtime, *args: str):
    return CliRunner().invoke(main, list(args), obj=runtime, catch_exceptions=False)


def test_peer_must_match_ae_title_and_address_or_network(db_session):
    p = create_partner(db_session, name="Klinikum Süd", at=NOW, actor=CLI)
    add_endpoint(db_session, p, ae_title="SUED_PACS", address="10.20.0.0/16", at=NOW, actor=CLI)
    add_endpoint(db_session, p, ae_title="SUED_PACS", address="192.168.7.9", at=NOW, actor=CLI)
    assert authorize_peer(db_session, "SUED_PACS", "10.20.3.4") is p
    assert authorize_peer(db_session, "SUED_PACS", "192.168.7.9") is p
    assert authorize_peer(db_session, "SUED_PACS", "192.168.7.10") is None
    assert authorize_peer(db_session, "OTHER", "10.20.3.4") is None
    assert authorize_peer(db_session, "SUED_PACS", "not-an-ip") is None
    assert known_ae_title(db_session, "SUED_PACS") and not known_ae_title(db_session, "OTHER")
    p.active = False
    assert authorize_peer(db_session, "SUED_PACS", "10.20.3.4") is None
    tags = db_session.scalars(select(AuditEvent.tag).where(AuditEvent.subject_type == "partner")).all()
    assert tags == ["partner:partner:create", "partner:endpoint:create", "partner:endpoint:create"]


def test_partner_networks_are_those_of_active_partners_once_each(db_session):
    # The listener keeps room for connections from these (tumorboard/imaging/dicom/gate.py).
    sued = create_partner(db_session, name="Klinikum Süd", at=NOW, actor=CLI)
    add_endpoint(db_session, sued, ae_title="SUED_PACS", address="10.20.0.0/16", at=NOW, actor=CLI)
    add_endpoint(db_session, sued, ae_title="SUED_CT", address="10.20.0.0/16", at=NOW, actor=CLI)
    nord = create_partner(db_session, name="Praxis Nord", at=NOW, actor=CLI)
    add_endpoint(db_session, nord, ae_title="NORD", address="192.168.7.9", at=NOW, actor=CLI)
    assert sorted(partner_networks(db_session)) == ["10.20.0.0/16", "192.168.7.9/32"]
    nord.active = False
    db_session.flush()
    assert partner_networks(db_session) == ["10.20.0.0/16"]


@pytest.mark.parametrize(
    ("ae_title", "address"), [("", "1.2.3.4"), ("A" * 17, "1.2.3.4"), ("BACK\\SLASH", "1.2.3.4"), ("OK", "1.2.3")]
)
def test_invalid_endpoints_are_refused(db_session, ae_title, address):
    p = create_partner(db_session, name="Praxis", at=NOW, actor=CLI)
    with pytest.raises(InvalidInput):
        add_endpoint(db_session, p, ae_title=ae_title, address=address, at=NOW, actor=CLI)


def test_duplicate_partner_and_endpoint_conflict(db_session):
    p = create_partner(db_session, name="Praxis", at=NOW, actor=CLI)
    add_endpoint(db_session, p, ae_title="PRX", address="127.0.0.1", at=NOW, actor=CLI)
    with pytest.raises(Conflict):
        create_partner(db_session, name="Praxis", at=NOW, actor=CLI)
    with pytest.raises(Conflict):
        add_endpoint(db_session, p, ae_title="PRX", address="127.0.0.1/32", at=NOW, actor=CLI)
    with pytest.raises(InvalidInput):
        create_partner(db_session, name="Zu schnell", quiet_period_seconds=1, at=NOW, actor=CLI)


def test_cli_add_and_list(runtime):
    result = _run(
        runtime,
        "partners",
        "add",
        "Klinikum West",
        "--ae-title",
        "WEST",
        "--address",
        "10.0.0.0/8",
        "--quiet-period",
        "300",
    )
    assert result.exit_code == 0, result.output
    assert (
        _run(runtime, "partners", "add", "Klinikum West", "--ae-title", "WEST2", "--address", "127.0.0.1").exit_code
        == 0
    )
    data = json.loads(_run(runtime, "partners", "list", "--json").output)
    west = next(p for p in data if p["name"] == "Klinikum West")
    assert west["quiet_period_seconds"] == 300
    assert west["endpoints"] == [
        {"ae_title": "WEST", "network": "10.0.0.0/8"},
        {"ae_title": "WEST2", "network": "127.0.0.1/32"},
    ]
    assert "WEST@10.0.0.0/8" in _run(runtime, "partners", "list").output
    bad = CliRunner().invoke(main, ["partners", "add", "X", "--ae-title", "X", "--address", "nonsense"], obj=runtime)
    assert bad.exit_code == 2


def test_imaging_studies_json_lists_studies(runtime):
    assert json.loads(_run(runtime, "imaging", "studies", "--json").output) == []


@pytest.mark.parametrize(("user", "code"), [("admin", 200), ("koordination", 403), ("dr.berger", 403), ("qm", 403)])
def test_partner_admin_page_is_for_admins_only(client, demo, user, code):
    login(client, user)
    assert client.get("/admin/partners").status_code == code


def test_admin_registers_a_partner_and_a_sender(client, demo):
    login(client, "admin")
    status, page = post_form(
        client,
        "/admin/partners",
        "/admin/partners",
        {"name": "Klinikum Ost", "contact": "Radiologie, Tel. 1234", "quiet_period": "180"},
    )
    assert status == 200 and "Klinikum Ost" in page
    partner = demo.scalar(select(Partner).where(Partner.name == "Klinikum Ost"))
    assert partner is not None and partner.quiet_period_seconds == 180
    status, page = post_form(
        client,
        "/admin/partners",
        f"/admin/partners/{partner.id}/endpoints",
        {"ae_title": "OST_GW", "address": "10.3.0.0/24"},
    )
    assert status == 200 and "OST_GW" in page and "10.3.0.0/24" in page
    status, page = post_form(
        client,
        "/admin/partners",
        f"/admin/partners/{partner.id}/endpoints",
        {"ae_title": "OST_GW", "address": "kein netz"},
    )
    assert status == 422 and "CIDR" in page


def test_admin_removes_a_sender_and_a_second_partner_of_the_same_name_is_refused(client, demo):
    login(client, "admin")
    post_form(
        client, "/admin/partners", "/admin/partners", {"name": "Klinikum Süd", "contact": "", "quiet_period": "120"}
    )
    partner = demo.scalar(select(Partner).where(Partner.name == "Klinikum Süd"))
    post_form(
        client,
        "/admin/partners",
        f"/admin/partners/{partner.id}/endpoints",
        {"ae_title": "SUED_GW", "address": "10.4.0.9"},
    )
    demo.expire_all()
    (endpoint,) = partner.endpoints
    endpoint_id = endpoint.id
    status, page = post_form(client, "/admin/partners", f"/admin/partners/endpoints/{endpoint_id}/delete", {})
    assert status == 200 and "SUED_GW" not in page and "Absender entfernt" in page
    demo.expire_all()
    assert partner.endpoints == []
    status, page = post_form(client, "/admin/partners", f"/admin/partners/endpoints/{endpoint_id}/delete", {})
    assert status == 404 and "Diesen Absender gibt es nicht" in page
    # the refused form keeps what was typed
    status, page = post_form(
        client,
        "/admin/partners",
        "/admin/partners",
        {"name": "Klinikum Süd", "contact": "Tel. 99", "quiet_period": "150"},
    )
    assert status == 409 and 'value="Tel. 99"' in page
