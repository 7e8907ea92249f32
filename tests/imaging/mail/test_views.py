"""Quarantine page for coordinators; the raw mail for admins only."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import NOW, login, post_form
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.bootstrap import Runtime
from tumorboard.imaging.mail.intake import RawStore
from tumorboard.imaging.mail.mime import QuarantineReason
from tumorboard.imaging.mail.models import MailMessage, MailState
from tumorboard.imaging.mail.pgp import Keyring
from tumorboard.partners.models import Partner
from tumorboard.partners.services import add_mail_sender

RAW = b"From: x@fremd.example\r\nSubject: irrelevant\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n"


@pytest.fixture
def quarantined(demo: Session, runtime: Runtime) -> int:
    sha256, _ = RawStore(runtime.mail.raw_path).save(RAW)
    mail = MailMessage(
        mailbox="alice@127.0.0.1/INBOX",
        uidvalidity=1,
        uid=1,
        sha256=sha256,
        size=len(RAW),
        message_id=None,
        sender="x@fremd.example",
        state=MailState.QUARANTINED,
        reason=QuarantineReason.UNKNOWN_SENDER,
        detail="x@fremd.example",
        object_count=0,
        received_at=NOW,
    )
    demo.add(mail)
    demo.commit()
    return mail.id


def test_coordinator_sees_reason_and_sender_and_discards(client, demo, quarantined) -> None:  # type: ignore[no-untyped-def]
    login(client, "koordination")
    page = client.get("/imaging/mail/quarantine")
    assert page.status_code == 200
    assert "x@fremd.example" in page.text and "keinem Partner zugeordnet" in page.text
    assert client.get(f"/imaging/mail/{quarantined}/raw").status_code == 403
    status, page_text = post_form(client, "/imaging/mail/quarantine", f"/imaging/mail/{quarantined}/discard", {})
    assert status == 200 and "Mail verworfen" in page_text
    demo.expire_all()
    assert demo.get(MailMessage, quarantined).state is MailState.DISCARDED  # type: ignore[union-attr]
    assert demo.scalar(select(AuditEvent).where(AuditEvent.tag == "imaging:mail:discard")) is not None


def test_admin_downloads_the_raw_mail(client, demo, quarantined) -> None:  # type: ignore[no-untyped-def]
    login(client, "admin")
    response = client.get(f"/imaging/mail/{quarantined}/raw")
    try:
        assert response.status_code == 200
        assert response.data == RAW
        assert response.mimetype == "message/rfc822"
    finally:
        response.close()
    demo.expire_all()
    taken = demo.scalars(select(AuditEvent).where(AuditEvent.tag == "imaging:mail:raw_download")).all()
    assert [(e.subject_type, e.subject_id, e.actor_label) for e in taken] == [
        ("mail_message", str(quarantined), "user:admin")
    ]


@pytest.mark.parametrize(("user", "code"), [("dr.berger", 403), ("qm", 403)])
def test_quarantine_is_for_coordinators(client, demo, user, code) -> None:  # type: ignore[no-untyped-def]
    login(client, user)
    assert client.get("/imaging/mail/quarantine").status_code == code


def test_admin_registers_a_mail_sender_with_its_key(client, demo, runtime, pgp_parties) -> None:  # type: ignore[no-untyped-def]
    nordstadt = pgp_parties["nordstadt"]
    partner = demo.scalar(select(Partner).order_by(Partner.id))
    login(client, "admin")
    status, page = post_form(
        client,
        "/admin/partners",
        f"/admin/partners/{partner.id}/mail-senders",
        {"address": "pacs@nordstadt.example", "pgp_fingerprint": nordstadt.fingerprint, "pgp_key": ""},
    )
    assert status == 422 and "Schlüsselbund" in page  # no key given and none imported before
    status, page = post_form(
        client,
        "/admin/partners",
        f"/admin/partners/{partner.id}/mail-senders",
        {
            "address": "pacs@nordstadt.example",
            "pgp_fingerprint": nordstadt.fingerprint,
            "pgp_key": nordstadt.gpg.export_keys(nordstadt.fingerprint),
        },
    )
    assert status == 200 and "pacs@nordstadt.example" in page and nordstadt.fingerprint in page
    assert Keyring(runtime.mail.gnupg_home).has_public_key(nordstadt.fingerprint)


def test_admin_removes_a_mail_sender(client, demo) -> None:  # type: ignore[no-untyped-def]
    partner = demo.scalar(select(Partner).order_by(Partner.id))
    sender = add_mail_sender(
        demo, partner, address="pacs@nordstadt.example", pgp_fingerprint="A" * 40, at=NOW, actor=CLI
    )
    demo.commit()
    login(client, "admin")
    status, page = post_form(client, "/admin/partners", f"/admin/partners/mail-senders/{sender.id}/delete", {})
    assert status == 200 and "Mail-Absender entfernt" in page and "pacs@nordstadt.example" not in page
    assert demo.scalar(select(AuditEvent).where(AuditEvent.tag == "partner:mail_sender:delete")) is not None


def test_finding_that_came_by_mail_is_on_the_case_page(client, demo, runtime) -> None:  # type: ignore[no-untyped-def]
    from tumorboard.cases.documents import DocumentStore, add_received_document
    from tumorboard.cases.models import Case

    case = demo.scalar(select(Case).order_by(Case.id))
    store = DocumentStore(runtime.settings.instance_path / "documents")
    pdf = b"%PDF-1.4\n% Befund aus der Teleradiologie\n"
    source = runtime.settings.instance_path / "befund.pdf"
    source.write_bytes(pdf)
    doc = add_received_document(
        demo,
        case,
        stored_name=store.write_file(source),
        original_name="Befund CT Thorax.pdf",
        size=len(pdf),
        sha256="0" * 64,
        source={"mail_message_id": 1},
        at=NOW,
        actor=CLI,
    )
    demo.commit()
    login(client, "koordination")
    page = client.get(f"/cases/{case.id}")
    assert page.status_code == 200 and "Befund CT Thorax.pdf" in page.text
    download = client.get(f"/documents/{doc.id}")
    assert download.status_code == 200 and download.data == pdf


def test_release_to_a_partner_number_too_large_is_a_message(client, demo, quarantined) -> None:  # type: ignore[no-untyped-def]
    """25 digits passed ``IntegerField`` and reached SQLite as an OverflowError (a bare 500)."""
    login(client, "koordination")
    status, page = post_form(
        client, "/imaging/mail/quarantine", f"/imaging/mail/{quarantined}/release", {"partner_id": "9" * 25}
    )
    assert status == 200 and "Bitte einen Partner wählen." in page
    demo.expire_all()
    assert demo.get(MailMessage, quarantined).state is MailState.QUARANTINED  # type: ignore[union-attr]
