"""Raw mail retention: processed and discarded mails' raw files go after TUMORBOARD_MAIL_RAW_RETENTION_DAYS;
undecided ones (quarantine, waiting) stay whatever their age. Through the scheduler's job."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import login
from tumorboard.audit.models import AuditEvent
from tumorboard.bootstrap import Runtime
from tumorboard.imaging.jobs import purge_mail_raw
from tumorboard.imaging.mail.intake import RawStore
from tumorboard.imaging.mail.mime import QuarantineReason
from tumorboard.imaging.mail.models import MailMessage, MailState

pytestmark = pytest.mark.db


def _mail(session: Session, store: RawStore, uid: int, state: MailState, at: dt.datetime, raw: bytes) -> MailMessage:
    sha256, size = store.save(raw)
    mail = MailMessage(
        mailbox="alice@127.0.0.1/INBOX",
        uidvalidity=1,
        uid=uid,
        sha256=sha256,
        size=size,
        message_id=None,
        sender="pacs@nordstadt.example",
        state=state,
        reason=QuarantineReason.WRONG_KEY if state is MailState.QUARANTINED else None,
        detail="",
        object_count=0,
        received_at=at,
        processed_at=at,
    )
    session.add(mail)
    return mail


def test_raw_mails_of_decided_mails_go_after_the_retention_period(client, demo: Session, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    store = RawStore(runtime.mail.raw_path)
    now = runtime.clock.now()
    old = now - dt.timedelta(days=runtime.mail.raw_retention_days + 1)
    processed = _mail(demo, store, 1, MailState.PROCESSED, old, b"From: a@x.example\r\n\r\n1")
    discarded = _mail(demo, store, 2, MailState.DISCARDED, old, b"From: a@x.example\r\n\r\n2")
    quarantined = _mail(demo, store, 3, MailState.QUARANTINED, old, b"From: a@x.example\r\n\r\n3")
    waiting = _mail(demo, store, 4, MailState.WAITING, old, b"From: a@x.example\r\n\r\n4")
    recent = _mail(demo, store, 5, MailState.PROCESSED, now - dt.timedelta(days=1), b"From: a@x.example\r\n\r\n5")
    twin = _mail(demo, store, 6, MailState.QUARANTINED, old, b"From: a@x.example\r\n\r\n1")  # same bytes as 1
    demo.commit()

    assert purge_mail_raw(runtime) == 1  # discarded; processed's bytes are still needed by its quarantined twin
    assert purge_mail_raw(runtime) == 0
    demo.expire_all()
    assert [m.raw_purged_at is not None for m in (processed, discarded, quarantined, waiting, recent, twin)] == [
        True, True, False, False, False, False,
    ]  # fmt: skip
    assert not store.path(discarded.sha256).exists()
    for kept in (processed, quarantined, waiting, recent):
        assert store.path(kept.sha256).exists()
    events = demo.scalars(select(AuditEvent.subject_id).where(AuditEvent.tag == "imaging:mail:purge")).all()
    assert sorted(events) == [str(processed.id), str(discarded.id)]
    login(client, "admin")
    page = client.get(f"/imaging/mail/{discarded.id}/raw")
    assert page.status_code == 404 and "liegen nicht mehr vor" in page.text
