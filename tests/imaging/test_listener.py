"""The listener against real peers over 127.0.0.1: DCMTK storescu/echoscu (TCP_NODELAY=1) and, for bytes no
well-behaved sender would produce, pynetdicom as a raw SCU. Each test gets its own listener process, database
and image store."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom import dcmread
from pynetdicom.dsutils import split_dataset
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.imaging.conftest import Listener
from tests.imaging.dicomfiles import PROPOSE, ct_dataset, echoscu, parse_storescu, raw_store, storescu, write_study
from tests.imaging.factories import make_case
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import SCHEDULER
from tumorboard.imaging.dicom.dataset import record_value, valid_uid
from tumorboard.imaging.models import ImagingInstance, ImagingStudy, MatchMethod, StudyState
from tumorboard.imaging.services import complete_quiet_studies
from tumorboard.imaging.summaries import imaging_summaries
from tumorboard.partners.models import Partner

pytestmark = pytest.mark.db
DATA = Path(pydicom.__file__).parent / "data"
CT = "1.2.840.10008.5.1.4.1.1.2"
PATIENT_SECRETS = ("Testmann", "Erika", "P-100", "19600101", "Mueller", "Juergen")


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _count(sessions: sessionmaker[Session], where: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(AuditEvent.id)).where(where)) or 0


def _stored_files(storage: Path) -> list[Path]:
    return sorted(p for p in (storage / "objects").rglob("*.dcm"))


def _incoming(storage: Path) -> list[Path]:
    return sorted((storage / "incoming").iterdir())


def test_two_series_study_completes_after_the_quiet_period_and_shows_on_its_case(listener, listener_sessions, tmp_path):
    now = dt.datetime.now(dt.UTC)
    with listener_sessions() as session:
        partner = session.scalar(select(Partner).where(Partner.name == "Klinikum Test"))
        decoy = make_case(session, now, family="Andere", given="Anna", patient_number="K-9")
        case = make_case(session, now, partner=partner, partner_patient_id="P-100")
        session.commit()
        case_id, decoy_id = case.id, decoy.id
    assert echoscu(listener.port).returncode == 0
    study_uid, files = write_study(tmp_path / "out", series=2, per_series=3, patient_id="P-100")
    result = storescu(listener.port, files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(parse_storescu(result.stdout + result.stderr).values()) == ["success"] * 6

    with listener_sessions() as session:
        study = session.scalar(select(ImagingStudy).where(ImagingStudy.study_uid == study_uid))
        assert study is not None
        assert (study.state, study.instance_count, len(study.series)) == (StudyState.RECEIVING, 6, 2)
        assert [s.instance_count for s in study.series] == [3, 3]
        assert study.case_id == case_id and study.match_method is MatchMethod.PARTNER_PATIENT_ID
        assert imaging_summaries(session, [case_id])[case_id].state == "receiving"
        # Within the quiet period (5 s for this partner) nothing changes; after it the study is complete.
        assert (
            complete_quiet_studies(session, at=study.last_received_at + dt.timedelta(seconds=4), actor=SCHEDULER) == []
        )
        assert complete_quiet_studies(session, at=study.last_received_at + dt.timedelta(seconds=6), actor=SCHEDULER)
        session.commit()
        summaries = imaging_summaries(session, [case_id, decoy_id])
        assert summaries[case_id].state == "complete" and summaries[case_id].instance_count == 6
        assert summaries[case_id].partner == "Klinikum Test"
        assert summaries[case_id].study_description == "CT Thorax/Abdomen"
        assert summaries[case_id].study_date == dt.date(2026, 11, 20)
        assert len(summaries[case_id].previews) == 2
        assert summaries[decoy_id].state == "expected"

    # A late instance reopens the same study (same case), never a second one.
    late = tmp_path / "late.dcm"
    ct_dataset(study_uid=study_uid, series_uid=pydicom.uid.generate_uid(), number=1, patient_id="P-100").save_as(
        late, enforce_file_format=True
    )
    assert storescu(listener.port, [late]).returncode == 0
    with listener_sessions() as session:
        studies = session.scalars(select(ImagingStudy)).all()
        assert len(studies) == 1 and studies[0].state is StudyState.RECEIVING and studies[0].instance_count == 7
        tags = session.scalars(select(AuditEvent.tag).where(AuditEvent.subject_type == "imaging_study")).all()
        assert {
            "imaging:study:receive",
            "imaging:study:assign",
            "imaging:study:complete",
            "imaging:study:reopen",
        } <= set(tags)
    assert len(_stored_files(listener.storage)) == 7 and _incoming(listener.storage) == []
    log = listener.log.read_text()
    assert not any(secret in log for secret in PATIENT_SECRETS)


def test_unknown_ae_wrong_called_ae_and_wrong_address_are_rejected_and_audited(listener, listener_sessions, tmp_path):
    _, files = write_study(tmp_path / "out", series=1, per_series=1)
    stranger = storescu(listener.port, files, aet="STRANGER")
    assert stranger.returncode != 0 and "Calling AE Title Not Recognized" in stranger.stderr + stranger.stdout
    wrong_called = echoscu(listener.port, aec="NOTUS")
    assert (
        wrong_called.returncode != 0 and "Called AE Title Not Recognized" in wrong_called.stderr + wrong_called.stdout
    )
    # FARAWAY is registered, but for 10.9.9.0/24 — not for 127.0.0.1.
    assert storescu(listener.port, files, aet="FARAWAY").returncode != 0
    # The peer has its rejection before the audit event is written (issue 16): wait for the third.
    _wait_for(lambda: _count(listener_sessions, AuditEvent.tag == "security:dicom:reject") == 3)
    with listener_sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.tag == "security:dicom:reject")).all()
        assert [(e.after["calling_ae_title"], e.reason) for e in events] == [
            ("STRANGER", "unknown calling AE title"),
            ("PARTNER1", "called AE title not ours"),
            ("FARAWAY", "address not registered for this AE title"),
        ]
        assert session.scalar(select(func.count(ImagingInstance.id))) == 0
    assert _stored_files(listener.storage) == []
    assert listener.alive()


def test_duplicates_same_bytes_once_different_bytes_kept_and_flagged(listener, listener_sessions, tmp_path):
    _, files = write_study(tmp_path / "out", series=1, per_series=2)
    assert storescu(listener.port, files).returncode == 0
    again = storescu(listener.port, files)
    assert list(parse_storescu(again.stdout + again.stderr).values()) == ["success", "success"]
    assert len(_stored_files(listener.storage)) == 2
    changed = dcmread(files[0])
    changed.SeriesDescription = "Thorax korrigiert"
    changed_path = tmp_path / "changed.dcm"
    changed.save_as(changed_path, enforce_file_format=True)
    result = storescu(listener.port, [changed_path])
    assert list(parse_storescu(result.stdout + result.stderr).values()) == ["success"]
    assert len(_stored_files(listener.storage)) == 3
    with listener_sessions() as session:
        rows = session.scalars(select(ImagingInstance).order_by(ImagingInstance.id)).all()
        assert len(rows) == 3
        assert [r.conflicting for r in rows] == [True, False, True]
        study = session.scalars(select(ImagingStudy)).one()
        assert study.instance_count == 2  # distinct SOP Instance UIDs
        assert session.scalar(select(func.count()).where(AuditEvent.tag == "imaging:instance:conflict")) == 1


def test_bad_input_gets_a_failure_status_and_leaves_nothing_on_disk(listener, listener_sessions, tmp_path):
    # Not DICOM at all, sent byte for byte as a data set.
    assert raw_store(listener.port, b"%PDF-1.7 this is not a DICOM data set" * 20) == 0xC000
    # Nothing at all, with a malformed SOP Instance UID in the request (the path-traversal shape of pynetdicom #823).
    assert raw_store(listener.port, b"", sop_instance="../../etc/passwd") in (-1, 0xC000)
    # Request and data set disagree on the SOP Instance UID, or on the SOP Class: 0xA900, as storescp answers.
    ds = ct_dataset(study_uid="1.2.3", series_uid="1.2.3.4", number=1)
    payload = _data_set_bytes(ds, tmp_path / "mismatch.dcm")
    assert raw_store(listener.port, payload, sop_class=str(ds.SOPClassUID), sop_instance="1.2.3.999") == 0xA900
    assert raw_store(listener.port, payload, sop_class="1.2.840.10008.5.1.4.1.1.4", sop_instance=ds.SOPInstanceUID) == (
        0xA900
    )
    assert _stored_files(listener.storage) == [] and _incoming(listener.storage) == []
    with listener_sessions() as session:
        assert session.scalar(select(func.count(ImagingInstance.id))) == 0
    log = listener.log.read_text()
    assert "C-STORE refused from partner" in log and "PARTNER1" in log
    assert (
        "SOP Instance UID of dataset and request differ" in log and "SOP Class UID of dataset and request differ" in log
    )
    assert not any(secret in log for secret in PATIENT_SECRETS)
    assert listener.alive()


def _data_set_bytes(ds: pydicom.Dataset, path: Path) -> bytes:
    """The data set as a C-STORE carries it (the file without its preamble and file meta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the invalid UIDs are the point
        ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()[split_dataset(path)[1] :]


def test_unusable_uids_are_stored_under_generated_keys_and_a_resend_is_a_duplicate(
    listener, listener_sessions, tmp_path
):
    """Issue 12, point 1: a Study Instance UID with letters, none at all, and a SOP Instance UID shaped like a path
    are stored under server-generated keys (not refused); the files are named by their SHA-256 only; sending
    everything again adds nothing."""
    files = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid UI values we want to send
        for number in (1, 2):
            bad = ct_dataset(study_uid="1.2.3.abc", series_uid="1.2.3.4", number=number)
            bad.save_as(tmp_path / f"bad_uid_{number}.dcm", enforce_file_format=True)
            files.append(tmp_path / f"bad_uid_{number}.dcm")
        missing = ct_dataset(study_uid="1.2.3", series_uid="1.2.3.5", number=3, accession="ACC-NO-UID")
        del missing.StudyInstanceUID
        missing.save_as(tmp_path / "no_uid.dcm", enforce_file_format=True)
        files.append(tmp_path / "no_uid.dcm")
        pathlike = ct_dataset(study_uid="1.2.3.6", series_uid="1.2.3.6.1", number=4)
        pathlike.SOPInstanceUID = "../../etc/passwd"
    first = storescu(listener.port, files, extra=("-nh",))
    assert list(parse_storescu(first.stdout + first.stderr).values()) == ["success"] * 3, first.stdout + first.stderr
    payload = _data_set_bytes(pathlike, tmp_path / "pathlike.dcm")
    assert raw_store(listener.port, payload, sop_class=CT, sop_instance="../../etc/passwd") == 0x0000
    stored = _stored_files(listener.storage)
    assert len(stored) == 4 and all(p.name == f"{p.parent.name}{p.stem[2:]}.dcm" and len(p.stem) == 64 for p in stored)
    assert not (listener.storage.parent / "etc").exists()
    # Everything again: the same keys, so duplicates, not second copies.
    again = storescu(listener.port, files, extra=("-nh",))
    assert list(parse_storescu(again.stdout + again.stderr).values()) == ["success"] * 3
    assert raw_store(listener.port, payload, sop_class=CT, sop_instance="../../etc/passwd") == 0x0000
    assert _stored_files(listener.storage) == stored
    with listener_sessions() as session:
        studies = {s.received_study_uid: s for s in session.scalars(select(ImagingStudy)).all()}
        assert set(studies) == {"1.2.3.abc", "", None}
        assert studies["1.2.3.abc"].instance_count == 2 and studies["1.2.3.abc"].study_uid.startswith("2.25.")
        assert studies[""].instance_count == 1 and studies[""].accession_number == "ACC-NO-UID"
        instances = session.scalars(select(ImagingInstance)).all()
        assert len(instances) == 4
        odd = [i for i in instances if i.received_sop_instance_uid is not None]
        assert [(i.received_sop_instance_uid, i.sop_instance_uid[:5]) for i in odd] == [("../../etc/passwd", "2.25.")]
    assert listener.alive()


def _pydicom_files() -> list[Path]:
    return sorted(p for folder in ("test_files", "charset_files") for p in (DATA / folder).iterdir() if p.is_file())


def _pydicom_view(path: Path) -> tuple[str, str, str] | None:
    """What pydicom itself decodes: (SOP Instance UID, Study UID, patient name), or None if it cannot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(path, force=True)
            uids = (str(ds.get(keyword) or "").strip(" \0") for keyword in ("SOPInstanceUID", "StudyInstanceUID"))
            return (*uids, str(ds.get("PatientName", "")))
    except Exception:
        return None


def test_every_pydicom_test_file_is_sent_indexed_or_refused_and_the_listener_keeps_serving(
    listener, listener_sessions, tmp_path
):
    files = _pydicom_files()
    assert len(files) > 90
    by_syntax: dict[str, list[Path]] = {}
    for path in files:
        try:
            ts = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        except Exception:
            ts = ""
        by_syntax.setdefault(ts, []).append(path)
    outcome: dict[str, str] = {}
    for ts, group in by_syntax.items():
        result = storescu(listener.port, group, extra=("-nh", "-R", PROPOSE.get(ts, "-xe")))
        outcome.update(parse_storescu(result.stdout + result.stderr))
    # What DCMTK would not send (no SOP class/instance in the file, unknown transfer syntax): sent byte for byte.
    raw_sent = 0
    for path in files:
        if outcome.get(str(path)) in ("success",) or str(outcome.get(str(path), "")).startswith("failure"):
            continue
        raw = path.read_bytes()
        try:
            payload = raw[split_dataset(path)[1] :]  # without its own file meta, if it has one
        except Exception:
            payload = raw
        status = raw_store(listener.port, payload)
        outcome[str(path)] = "success" if status == 0 else f"failure: 0x{status:04X}"
        raw_sent += 1
    assert set(outcome) == {str(p) for p in files}
    assert raw_sent > 0

    with listener_sessions() as session:
        instances = {i.sop_instance_uid: i for i in session.scalars(select(ImagingInstance)).all()}
        studies = {s.study_uid: s for s in session.scalars(select(ImagingStudy)).all()}
        received_study_uids = {s.received_study_uid for s in studies.values() if s.received_study_uid is not None}
    indexed = failed = generated = 0
    for path in files:
        status = outcome[str(path)]
        view = _pydicom_view(path)
        if status == "success":
            indexed += 1
            assert view is not None, path.name
            sop_uid, study_uid, name = view
            if not valid_uid(study_uid):  # none or unusable: stored under a generated key (issue 12)
                assert record_value(study_uid) in received_study_uids, path.name
                generated += 1
                continue
            assert not sop_uid or sop_uid in instances, path.name  # none in the data set: the request's UID
            # The study keeps the values of its first instance; pydicom's test files of one study may differ.
            assert studies[study_uid].patient_name == name or _same_study_other_name(files, study_uid), path.name
        else:
            failed += 1
            assert status.startswith("failure"), (path.name, status)
    print(
        f"pydicom files: {len(files)}, indexed {indexed} ({generated} under a generated study key), "
        f"refused {failed}, sent raw {raw_sent}"
    )
    assert indexed >= 60 and failed >= 5 and generated >= 1
    # Names that need Specific Character Set decoding arrived as pydicom decodes them.
    names = {s.patient_name for s in studies.values()}
    for charset_file in ("chrGerm.dcm", "chrFren.dcm", "chrRuss.dcm", "chrGreek.dcm", "chrH32.dcm"):
        view = _pydicom_view(DATA / "charset_files" / charset_file)
        assert view is not None and view[2] in names, (
            charset_file,
            outcome[str(DATA / "charset_files" / charset_file)],
        )
    assert _incoming(listener.storage) == []
    assert listener.alive()
    log = listener.log.read_text()
    assert "Traceback" not in log


def _same_study_other_name(files: list[Path], study_uid: str) -> bool:
    views = [_pydicom_view(p) for p in files]
    return len({v[2] for v in views if v and v[1] == study_uid}) > 1


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="mounting a tmpfs needs root")
def test_a_full_store_answers_out_of_resources_and_keeps_what_it_acknowledged(
    listener_engine, listener_sessions, tmp_path
):
    storage = tmp_path / "small"
    storage.mkdir()
    # A 4 MB filesystem for the store only (private mount namespace), 1 MB of it kept in reserve.
    wrap = ["unshare", "--mount", "sh", "-c", f'mount -t tmpfs -o size=4m tmpfs "{storage}" && exec "$@"', "sh"]
    proc = Listener(
        listener_engine.url.render_as_string(hide_password=False),
        storage,
        tmp_path / "small.log",
        wrap=wrap,
        TUMORBOARD_IMAGING_MIN_FREE_MB="1",
    )
    proc.start()
    try:
        _, files = write_study(tmp_path / "big", series=1, per_series=24, size=320)  # ~200 kB each
        result = storescu(proc.port, files, extra=("-nh",))
        statuses = list(parse_storescu(result.stdout + result.stderr).values())
        assert len(statuses) == 24
        stored = statuses.count("success")
        assert 5 <= stored < 24
        # Free space hovers around the reserve once it is reached, so an instance may still fit after a refusal.
        assert statuses[:5] == ["success"] * 5
        assert {s for s in statuses if s != "success"} == {"failure: Refused: OutOfResources"}, statuses
        with listener_sessions() as session:
            assert session.scalar(select(func.count(ImagingInstance.id))) == stored
        assert proc.alive()
        assert "image store below its free-space reserve" in proc.log.read_text()
    finally:
        proc.stop()
