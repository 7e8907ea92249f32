"""Acceptance (issue 14) against real peers: Dovecot over STARTTLS, GnuPG keys made in the test, aiosmtpd."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from tests.imaging.factories import make_case
from tests.imaging.mail.conftest import SENDER, MailEnv
from tests.imaging.mail.mails import dicom_bytes, dicom_mail, split_partial
from tumorboard.auth.actors import SCHEDULER
from tumorboard.imaging.mail.mime import QuarantineReason
from tumorboard.imaging.mail.models import MailMessage, MailState
from tumorboard.imaging.mail.poller import connect, poll_once
from tumorboard.imaging.models import ImagingInstance, ImagingStudy, StudyState
from tumorboard.imaging.services import complete_quiet_studies
from tumorboard.imaging.summaries import imaging_summaries
from tumorboard.partners.models import Partner

pytestmark = pytest.mark.db


def _study_mails(env: MailEnv, study_uid: str, count: int, *, split: int | None = None) -> list[bytes]:
    series_uid = generate_uid()
    mails: list[bytes] = []
    for n in range(count):
        obj = dicom_bytes(study_uid=study_uid, series_uid=series_uid, number=n + 1, patient_id="P-100")
        raw = env.mail(dicom_mail([obj]))
        mails.extend(split_partial(raw, 3) if n == split else [raw])
    return mails


def _poll(env: MailEnv) -> int:
    intake = env.intake()
    box = env.settings.mailboxes[0]
    client = connect(box, env.settings)
    try:
        return poll_once(client, box, intake, env.settings)
    finally:
        client.logout()
        intake.close()


def test_200_signed_encrypted_mails_one_split_make_a_complete_study_on_its_case(mail_env: MailEnv) -> None:
    env = mail_env
    now = env.clock.now()
    with env.sessions() as session:
        partner = session.scalar(select(Partner).where(Partner.name == "Klinikum Test"))
        case_id = make_case(session, now, partner=partner, partner_patient_id="P-100").id
        session.commit()
    study_uid = generate_uid()
    mails = _study_mails(env, study_uid, 200, split=7)
    assert len(mails) == 202
    env.imap.append(mails)

    assert _poll(env) == 202

    with env.sessions() as session:
        study = session.scalar(select(ImagingStudy).where(ImagingStudy.study_uid == study_uid))
        assert study is not None
        assert (study.state, study.instance_count, study.case_id) == (StudyState.RECEIVING, 200, case_id)
        states = session.execute(select(MailMessage.state, func.count()).group_by(MailMessage.state)).all()
        assert dict(states) == {MailState.PROCESSED: 202}
        # Mail's quiet period is the partner's mail quiet period (15 minutes), not its C-STORE one (5 s).
        last = study.last_received_at
        assert complete_quiet_studies(session, at=last + dt.timedelta(minutes=14), actor=SCHEDULER) == []
        assert complete_quiet_studies(session, at=last + dt.timedelta(minutes=15), actor=SCHEDULER)
        session.commit()
        summary = imaging_summaries(session, [case_id])[case_id]
        assert (summary.state, summary.instance_count) == ("complete", 200)
    assert env.imap.count("INBOX") == 0
    assert env.imap.count("Processed") == 202
    assert env.imap.count("Quarantine") == 0

    # One receipt per mail (each fragment is a mail), each an RFC 8098 report naming the original.
    assert len(env.receipts) == 202
    originals = set()
    for data in env.receipts:
        report = email.message_from_bytes(data, policy=email.policy.default)
        assert report.get_content_type() == "multipart/report"
        assert report.get_param("report-type") == "disposition-notification"
        assert report["To"] == SENDER
        notification = [p for p in report.walk() if p.get_content_type() == "message/disposition-notification"]
        assert len(notification) == 1
        text = " ".join(notification[0].as_string().split())  # fields may be folded in transit
        assert "Disposition: automatic-action/MDN-sent-automatically; processed" in text
        originals.add(text.split("Original-Message-ID: ", 1)[1].split()[0])
    assert len(originals) == 202

    # A second poll changes nothing: no new rows, instances or receipts.
    env.imap.append([])
    assert _poll(env) == 0
    with env.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MailMessage)) == 202
        assert session.scalar(select(func.count()).select_from(ImagingInstance)) == 200
    assert len(env.receipts) == 202


def test_quarantine_keeps_every_raw_mail_with_its_reason(mail_env: MailEnv) -> None:
    from tests.imaging.mail.mails import zip_bytes, zip_mail

    env = mail_env
    good = dicom_bytes(patient_id="P-100")
    pdf_only = dicom_mail([])
    pdf_only.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="Befund.pdf")
    truncated = split_partial(env.mail(dicom_mail([dicom_bytes()])), 3)[:2]
    cases = {
        "wrong_key": env.mail(dicom_mail([good]), by="stranger"),
        "zip_bomb": env.mail(zip_mail(zip_bytes({"DICOM/IM1": good, "DICOM/BOMB": b"\0" * (20 * 1024 * 1024)}))),
        "zip_path": env.mail(zip_mail(zip_bytes({"DICOM/IM1": good, "../../x.dcm": good}))),
        "not_dicom": env.mail(pdf_only),
        "unknown_sender": env.mail(
            dicom_mail([good], sender="x@fremd.example"), by="stranger", sender="x@fremd.example"
        ),
    }
    env.imap.append([*cases.values(), *truncated])
    assert _poll(env) == 7
    with env.sessions() as session:
        rows = session.scalars(select(MailMessage).order_by(MailMessage.uid)).all()
        reasons = [(r.state, r.reason) for r in rows]
        assert reasons[:5] == [
            (MailState.QUARANTINED, QuarantineReason.WRONG_KEY),
            (MailState.QUARANTINED, QuarantineReason.ARCHIVE_RATIO),
            (MailState.QUARANTINED, QuarantineReason.ARCHIVE_PATH),
            (MailState.QUARANTINED, QuarantineReason.NOT_DICOM),
            (MailState.QUARANTINED, QuarantineReason.UNKNOWN_SENDER),
        ]
        assert reasons[5:] == [(MailState.WAITING, None)] * 2  # the partial set is still within its timeout
        assert rows[4].sender == "x@fremd.example"
        assert session.scalar(select(func.count()).select_from(ImagingInstance)) == 0
    assert env.imap.count("Quarantine") == 5
    assert env.imap.count("INBOX") == 2

    env.clock.advance(dt.timedelta(seconds=env.settings.partial_timeout_s))
    assert _poll(env) == 0
    with env.sessions() as session:
        rows = session.scalars(select(MailMessage).order_by(MailMessage.uid)).all()
        assert [(r.state, r.reason) for r in rows[5:]] == [
            (MailState.QUARANTINED, QuarantineReason.INCOMPLETE_PARTIAL)
        ] * 2
        for row in rows:  # every raw mail kept, byte for byte
            assert (env.settings.raw_path / row.sha256[:2] / f"{row.sha256}.eml").stat().st_size == row.size
    assert env.imap.count("Quarantine") == 7
    assert env.imap.count("INBOX") == 0
    assert env.receipts == []  # no receipt for what was not processed
