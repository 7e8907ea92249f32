"""Acceptance (issue 14) against real peers: Dovecot over STARTTLS, GnuPG keys made in the test, aiosmtpd."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom.uid import generate_uid
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import NOW
from tests.imaging.conftest import CHECKOUT
from tests.imaging.dicomfiles import DCMTK_ENV, STORESCU, write_study
from tests.imaging.factories import make_case
from tests.imaging.mail.conftest import SENDER, MailEnv
from tests.imaging.mail.mails import dicom_bytes, dicom_mail, split_partial
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI, SCHEDULER
from tumorboard.cases.models import Case, CaseDocument
from tumorboard.errors import Conflict, InvalidInput
from tumorboard.imaging.mail.documents import attach_mail_documents
from tumorboard.imaging.mail.mime import QuarantineReason
from tumorboard.imaging.mail.models import MailDocument, MailMessage, MailState
from tumorboard.imaging.mail.poller import connect, poll_once, run_poller
from tumorboard.imaging.mail.quarantine import discard_mail, release_mail
from tumorboard.imaging.matching import assign_study
from tumorboard.imaging.models import ImagingInstance, ImagingStudy, StudyState
from tumorboard.imaging.services import complete_quiet_studies
from tumorboard.imaging.summaries import imaging_summaries
from tumorboard.partners.models import Partner
from tumorboard.partners.services import add_mail_sender, create_partner

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


@contextlib.contextmanager
def _running_poller(env: MailEnv) -> Iterator[threading.Thread]:
    """``run_poller`` (the loop of ``tumorboard mail poll``: IDLE, then a pass) in a thread until the test ends."""
    intake = env.intake()
    stop = threading.Event()
    failures: list[BaseException] = []

    def loop() -> None:
        try:
            run_poller(env.sessions, env.clock, intake, env.settings, stop=stop)
        except BaseException as err:  # reported by the test below
            failures.append(err)

    thread = threading.Thread(target=loop, name="poller")
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=60)
        intake.close()
    assert not failures, failures


def _wait(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _states(env: MailEnv) -> list[tuple[MailState, QuarantineReason | None]]:
    with env.sessions() as session:
        return [(r.state, r.reason) for r in session.scalars(select(MailMessage).order_by(MailMessage.uid))]


def test_quarantine_keeps_every_raw_mail_with_its_reason_while_the_poller_runs_on(mail_env: MailEnv) -> None:
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
    with _running_poller(env) as poller:
        env.imap.append([*cases.values(), *truncated])
        # the poller's workers take the mails in parallel: the two fragments may be recorded after the five moves
        _wait(
            lambda: env.imap.count("Quarantine") == 5 and len(_states(env)) == 7,
            "five mails in quarantine and the two fragments recorded",
        )
        reasons = _states(env)
        assert reasons[:5] == [
            (MailState.QUARANTINED, QuarantineReason.WRONG_KEY),
            (MailState.QUARANTINED, QuarantineReason.ARCHIVE_RATIO),
            (MailState.QUARANTINED, QuarantineReason.ARCHIVE_PATH),
            (MailState.QUARANTINED, QuarantineReason.NOT_DICOM),
            (MailState.QUARANTINED, QuarantineReason.UNKNOWN_SENDER),
        ]
        assert reasons[5:] == [(MailState.WAITING, None)] * 2  # the partial set is still within its timeout
        with env.sessions() as session:
            assert session.scalar(select(MailMessage.sender).where(MailMessage.uid == 5)) == "x@fremd.example"
            assert session.scalar(select(func.count()).select_from(ImagingInstance)) == 0
        assert env.imap.count("INBOX") == 2

        # The poller is still at work: a good mail after all that is taken, the partial set times out.
        env.imap.append([env.mail(dicom_mail([dicom_bytes(patient_id="P-100")]))])
        _wait(lambda: env.imap.count("Processed") == 1, "the good mail processed")
        env.clock.advance(dt.timedelta(seconds=env.settings.partial_timeout_s))
        env.imap.append([env.mail(dicom_mail([dicom_bytes(patient_id="P-100")]))])  # wakes the IDLE at once
        _wait(lambda: env.imap.count("Quarantine") == 7, "the truncated set in quarantine")
        _wait(lambda: env.imap.count("Processed") == 2, "the second good mail processed")
        assert poller.is_alive()
    reasons = _states(env)
    assert reasons[5:7] == [(MailState.QUARANTINED, QuarantineReason.INCOMPLETE_PARTIAL)] * 2
    assert reasons[7:] == [(MailState.PROCESSED, None)] * 2
    with env.sessions() as session:
        for row in session.scalars(select(MailMessage)):  # every raw mail kept, byte for byte
            assert (env.settings.raw_path / row.sha256[:2] / f"{row.sha256}.eml").stat().st_size == row.size
    assert env.imap.count("INBOX") == 0
    assert len(env.receipts) == 2  # receipts only for what was processed
    assert not list((env.settings.raw_path / "work").iterdir())  # every mail's work folder removed


def test_pdf_finding_is_attached_to_the_matched_case_audited(mail_env: MailEnv) -> None:
    env = mail_env
    now = env.clock.now()
    with env.sessions() as session:
        partner = session.scalar(select(Partner).where(Partner.name == "Klinikum Test"))
        case_id = make_case(session, now, partner=partner, partner_patient_id="P-100").id
        other_case_id = make_case(session, now, family="Anders", partner=partner, partner_patient_id="P-999").id
        session.commit()
    pdf = b"%PDF-1.4\n% Befund\n" + b"x" * 5000
    matched = dicom_mail([dicom_bytes(patient_id="P-100")])
    matched.add_attachment(pdf, maintype="application", subtype="pdf", filename="Befund CT.pdf")
    unmatched = dicom_mail([dicom_bytes(patient_id="P-UNBEKANNT")])
    unmatched.add_attachment(pdf + b"2", maintype="application", subtype="pdf", filename="../Befund2.pdf")
    unmatched.add_attachment(b"GIF89a", maintype="image", subtype="gif", filename="logo.gif")
    env.imap.append([env.mail(matched), env.mail(unmatched)])
    assert _poll(env) == 2
    with env.sessions() as session:
        docs = session.scalars(select(CaseDocument).order_by(CaseDocument.id)).all()
        assert [(d.case_id, d.original_name, d.kind.value, d.uploaded_by_id) for d in docs] == [
            (case_id, "Befund CT.pdf", "finding", None)
        ]
        assert env.documents.read(docs[0].stored_name) == pdf
        event = session.scalar(
            select(AuditEvent).where(AuditEvent.tag == "case:document:add", AuditEvent.subject_id == str(case_id))
        )
        assert event is not None and event.actor_label == "system:mail-intake"
        waiting = session.scalar(select(MailDocument).where(MailDocument.case_document_id.is_(None)))
        assert waiting is not None and waiting.name == "Befund2.pdf"
        second = session.get(MailMessage, waiting.mail_message_id)
        assert second is not None and "1 Anhänge" in second.detail  # the GIF is counted, stays in the raw mail
        # The coordinator matches the unmatched study in the triage; the job attaches its finding.
        study = session.scalar(select(ImagingStudy).where(ImagingStudy.case_id.is_(None)))
        assert study is not None
        assign_study(session, study, session.get(Case, other_case_id), at=now, actor=CLI)  # type: ignore[arg-type]
        assert attach_mail_documents(session, at=now, actor=SCHEDULER) == 1
        assert attach_mail_documents(session, at=now, actor=SCHEDULER) == 0  # once
        session.commit()
        docs = session.scalars(select(CaseDocument).order_by(CaseDocument.id)).all()
        assert [(d.case_id, d.original_name) for d in docs] == [
            (case_id, "Befund CT.pdf"),
            (other_case_id, "Befund2.pdf"),
        ]


def _poller_env(env: MailEnv) -> dict[str, str]:
    return {
        **os.environ,
        **env.env,
        "TUMORBOARD_ENV": "test",
        "TUMORBOARD_DATABASE_URL": env.sessions.kw["bind"].url.render_as_string(hide_password=False),
        "TUMORBOARD_SECRET_KEY": "t" * 48,
        "TUMORBOARD_INSTANCE_PATH": str(env.spool.root.parent),
        "TUMORBOARD_IMAGING_PATH": str(env.spool.root),
    }


def test_sigkill_mid_batch_and_restart_loses_nothing_and_repeats_nothing(mail_env: MailEnv, tmp_path: Path) -> None:
    env = mail_env
    study_uid = generate_uid()
    env.imap.append(_study_mails(env, study_uid, 80))
    log = tmp_path / "poller.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tumorboard", "mail", "poll"],
            cwd=CHECKOUT,
            env=_poller_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            with env.sessions() as session:
                done = session.scalar(
                    select(func.count()).select_from(MailMessage).where(MailMessage.state == MailState.PROCESSED)
                )
            if done and done >= 15:
                break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    with env.sessions() as session:
        assert session.scalar(select(func.count()).select_from(MailMessage)) < 80, "killed too late to prove much"

    again = subprocess.run(
        [sys.executable, "-m", "tumorboard", "mail", "poll", "--once"],
        cwd=CHECKOUT,
        env=_poller_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    with env.sessions() as session:
        assert dict(session.execute(select(MailMessage.state, func.count()).group_by(MailMessage.state)).all()) == {
            MailState.PROCESSED: 80
        }
        study = session.scalar(select(ImagingStudy).where(ImagingStudy.study_uid == study_uid))
        assert study is not None and study.instance_count == 80
        sops = session.scalars(select(ImagingInstance.sop_instance_uid)).all()
        assert len(sops) == len(set(sops)) == 80
        marked = session.scalar(
            select(func.count()).select_from(MailMessage).where(MailMessage.mdn_sent_at.is_not(None))
        )
    assert env.imap.count("INBOX") == 0
    assert env.imap.count("Processed") == 80
    # At most one receipt per mail: a kill between marking and sending may lose one, never repeat one.
    ids = [_original_id(data) for data in env.receipts]
    assert len(ids) == len(set(ids))
    assert marked == 80 and len(ids) >= 79


def _original_id(data: bytes) -> str:
    report = email.message_from_bytes(data, policy=email.policy.default)
    part = next(p for p in report.walk() if p.get_content_type() == "message/disposition-notification")
    return " ".join(part.as_string().split()).split("Original-Message-ID: ", 1)[1].split()[0]


def test_same_instances_by_mail_and_c_store_at_once_are_stored_once(
    mail_env: MailEnv, listener, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    env = mail_env
    study_uid, files = write_study(tmp_path / "out", series=1, per_series=40, patient_id="P-100")
    env.imap.append([env.mail(dicom_mail([path.read_bytes()])) for path in files])
    sender = subprocess.Popen(
        [STORESCU, "-aet", "PARTNER1", "-aec", "TUMORBOARD", "127.0.0.1", str(listener.port), *map(str, files)],
        env=DCMTK_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert _poll(env) == 40
    out, _ = sender.communicate(timeout=120)
    assert sender.returncode == 0, out
    with env.sessions() as session:
        study = session.scalar(select(ImagingStudy).where(ImagingStudy.study_uid == study_uid))
        assert study is not None and study.instance_count == 40
        rows = session.execute(select(ImagingInstance.sop_instance_uid, ImagingInstance.conflicting)).all()
        assert len(rows) == 40 and not any(conflicting for _, conflicting in rows)
    stored = list((listener.storage / "objects").rglob("*.dcm"))
    assert len(stored) == 40


def test_coordinator_releases_for_a_chosen_partner_or_discards_audited(mail_env: MailEnv) -> None:
    env = mail_env
    stranger = env.parties["stranger"]
    good = dicom_bytes(patient_id="P-7")
    env.imap.append(
        [
            env.mail(dicom_mail([good], sender="x@fremd.example"), by="stranger", sender="x@fremd.example"),
            env.mail(dicom_mail([dicom_bytes()]), by="stranger"),
        ]
    )
    assert _poll(env) == 2
    with env.sessions() as session:
        unknown, wrong = session.scalars(select(MailMessage).order_by(MailMessage.uid)).all()
        assert (unknown.reason, wrong.reason) == (QuarantineReason.UNKNOWN_SENDER, QuarantineReason.WRONG_KEY)
        fern = session.scalar(select(Partner).where(Partner.name == "Praxis Fern"))
        test = session.scalar(select(Partner).where(Partner.name == "Klinikum Test"))
        assert fern is not None and test is not None
        # Praxis Fern's key is the one that signed the first mail (registered under another address).
        add_mail_sender(
            session, fern, address="pacs@fern.example", pgp_fingerprint=stranger.fingerprint, at=NOW, actor=CLI
        )
        with pytest.raises(InvalidInput):
            release_mail(
                session, unknown, session.get(Partner, fern.id + 100) or _no_senders(session), at=NOW, actor=CLI
            )
        release_mail(session, unknown, fern, at=NOW, actor=CLI)
        release_mail(session, wrong, test, at=NOW, actor=CLI)  # signed by a key Klinikum Test never pinned
        session.commit()
    assert _poll(env) == 0
    with env.sessions() as session:
        unknown, wrong = session.scalars(select(MailMessage).order_by(MailMessage.uid)).all()
        assert (unknown.state, unknown.partner_id, unknown.object_count) == (MailState.PROCESSED, fern.id, 1)
        assert (wrong.state, wrong.reason) == (MailState.QUARANTINED, QuarantineReason.WRONG_KEY)
        instance = session.scalar(select(ImagingInstance))
        assert instance is not None and instance.peer_address == "mail"
        discard_mail(session, wrong, at=NOW, actor=CLI)
        with pytest.raises(Conflict):
            discard_mail(session, wrong, at=NOW, actor=CLI)
        session.commit()
        tags = session.scalars(
            select(AuditEvent.tag).where(AuditEvent.subject_type == "mail_message").order_by(AuditEvent.id)
        ).all()
        assert tags.count("imaging:mail:release") == 2
        assert tags.count("imaging:mail:discard") == 1
    assert len(env.receipts) == 1  # the released mail, once processed
    assert env.imap.count("Quarantine") == 2  # released or not, the mail stays where it was moved


def test_incomplete_partial_set_is_released_as_a_whole_or_discarded_audited(mail_env: MailEnv) -> None:
    env = mail_env
    late_set = split_partial(env.mail(dicom_mail([dicom_bytes(patient_id="P-100")])), 3)
    dropped_set = split_partial(env.mail(dicom_mail([dicom_bytes(patient_id="P-100")])), 2)
    env.imap.append([*late_set[:2], dropped_set[0]])
    assert _poll(env) == 3
    env.clock.advance(dt.timedelta(seconds=env.settings.partial_timeout_s))
    assert _poll(env) == 0  # both sets time out
    env.imap.append([late_set[2]])  # the third fragment comes after that: it waits alone
    assert _poll(env) == 1
    assert [s for s, _ in _states(env)] == [MailState.QUARANTINED] * 3 + [MailState.WAITING]
    with env.sessions() as session:
        first, _, dropped, _ = session.scalars(select(MailMessage).order_by(MailMessage.uid)).all()
        test = session.scalar(select(Partner).where(Partner.name == "Klinikum Test"))
        assert test is not None
        assert release_mail(session, first, test, at=env.clock.now(), actor=CLI) == 2  # the set, not one mail
        assert discard_mail(session, dropped, at=env.clock.now(), actor=CLI) == 1
        session.commit()
        tags = session.scalars(select(AuditEvent.tag).where(AuditEvent.subject_type == "mail_message")).all()
        assert (tags.count("imaging:mail:release"), tags.count("imaging:mail:discard")) == (2, 1)
    assert _poll(env) == 0  # released fragments and the late one make the set complete
    assert _states(env) == [(MailState.PROCESSED, None)] * 2 + [
        (MailState.DISCARDED, QuarantineReason.INCOMPLETE_PARTIAL)
    ] + [(MailState.PROCESSED, None)]
    with env.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ImagingInstance)) == 1
    assert len(env.receipts) == 3


def _no_senders(session: Session) -> Partner:
    partner = create_partner(session, name="Ohne Mail", at=NOW, actor=CLI)
    session.flush()
    return partner


def test_an_unreachable_mailbox_is_logged_and_the_others_are_still_polled(
    mail_env: MailEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env = mail_env
    good = env.settings.mailboxes[0]
    wrong = dataclasses.replace(good, name="alice@127.0.0.1/wrong", password="falsch")
    settings = dataclasses.replace(env.settings, mailboxes=(wrong, good))
    env.imap.append([env.mail(dicom_mail([dicom_bytes()]))])
    intake = env.intake()
    try:
        run_poller(env.sessions, env.clock, intake, settings, once=True)
    finally:
        intake.close()
    assert "mailbox alice@127.0.0.1/wrong: poll failed" in caplog.text
    with env.sessions() as session:
        assert session.scalar(select(MailMessage.state)) is MailState.PROCESSED
    assert env.imap.count("Processed") == 1


def test_a_mail_larger_than_a_slice_is_fetched_in_slices_to_disk(
    mail_env: MailEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a 50 MB mail goes through (benchmarks/mail.py measures its memory), here with 1 kB slices."""
    from tumorboard.imaging.mail import poller

    env = mail_env
    raw = env.mail(dicom_mail([dicom_bytes(patient_id="P-100")]))
    assert len(raw) > 3000
    monkeypatch.setattr(poller, "SLICE", 1000)
    env.imap.append([raw, env.mail(dicom_mail([dicom_bytes(patient_id="P-100")]))])
    assert _poll(env) == 2
    with env.sessions() as session:
        rows = session.scalars(select(MailMessage).order_by(MailMessage.uid)).all()
        assert [(r.state, r.object_count) for r in rows] == [(MailState.PROCESSED, 1)] * 2
        stored = (env.settings.raw_path / rows[0].sha256[:2] / f"{rows[0].sha256}.eml").read_bytes()
    assert stored == raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # as the server holds it (CRLF)
