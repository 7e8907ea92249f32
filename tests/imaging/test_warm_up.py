"""The listener's start-up rehearsal (Intake.warm_up → GroupIndexer.rehearse): two made-up instances of a new study
go through the real index and matching code on the indexer's own connection and are rolled back — nothing stays
(no study, no instance, no audit event, no commit counted), and the index works as before afterwards. On SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.imaging.conftest import Listener
from tests.imaging.dicomfiles import ct_dataset, echoscu
from tumorboard.audit.models import AuditEvent
from tumorboard.clock import FixedClock
from tumorboard.db import make_session_factory
from tumorboard.imaging.dicom import listener
from tumorboard.imaging.dicom.dataset import read_header
from tumorboard.imaging.dicom.listener import Intake, _rehearsal_header
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy
from tumorboard.partners.models import Partner

pytestmark = pytest.mark.db

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (ImagingStudy, ImagingSeries, ImagingInstance, AuditEvent)
    )


def _intake(engine: Engine, tmp_path: Path) -> Intake:
    spool = Spool(tmp_path / "imaging")
    spool.create_folders()
    return Intake(make_session_factory(engine), FixedClock(NOW), spool, "TUMORBOARD")


def test_the_rehearsal_leaves_nothing_and_the_index_works_after_it(
    listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with listener_sessions() as session:
        before = _counts(session)
        partner_id = session.scalar(select(Partner.id).order_by(Partner.id).limit(1))
    assert partner_id is not None
    intake = _intake(listener_engine, tmp_path)
    try:
        headers = [_rehearsal_header(1), _rehearsal_header(2)]
        assert headers[0].series_uid == headers[1].series_uid  # the second takes the fast path, the first the service
        done = intake.indexer.rehearse(
            headers, partner_id=partner_id, sha256="0" * 64, size=0, calling_ae_title="TUMORBOARD",
            peer_address="127.0.0.1", at=NOW,
        )  # fmt: skip
        assert done.result(timeout=30) is None  # it ran, and nothing failed
        with caplog.at_level(logging.WARNING, logger="tumorboard.imaging.dicom.listener"):
            intake.warm_up()
        assert "warm-up skipped" not in caplog.text
        assert intake.indexer.commits == 0
        with listener_sessions() as session:
            assert _counts(session) == before
        # a real instance afterwards, on the same connection
        ds = ct_dataset(study_uid="1.2.826.0.1.88", series_uid="1.2.826.0.1.88.1", number=1)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        header = read_header(
            buffer, sop_class_uid=str(ds.SOPClassUID), sop_instance_uid=str(ds.SOPInstanceUID),
            transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        )  # fmt: skip
        intake.indexer.submit(
            header, partner_id=partner_id, sha256="ab" * 32, size=10, calling_ae_title="PARTNER1",
            peer_address="127.0.0.1", at=NOW,
        ).result(timeout=30)  # fmt: skip
        assert intake.indexer.commits == 1
        with listener_sessions() as session:
            after = _counts(session)
        assert after[:3] == (before[0] + 1, before[1] + 1, before[2] + 1) and after[3] > before[3]
    finally:
        intake.indexer.stop()
        intake.workers.shutdown()


def test_without_a_partner_there_is_nothing_to_rehearse(listener_engine: Engine, tmp_path: Path) -> None:
    intake = _intake(listener_engine, tmp_path)
    try:
        intake.warm_up()
        assert intake.indexer.commits == 0
        with make_session_factory(listener_engine)() as session:
            assert _counts(session)[:3] == (0, 0, 0)
    finally:
        intake.indexer.stop()
        intake.workers.shutdown()


def test_a_write_locked_database_delays_the_rehearsal_but_neither_the_start_nor_the_index(
    listener_engine: Engine,
    listener_sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if listener_engine.dialect.name != "sqlite":
        pytest.skip("another process's write lock: SQLite")
    monkeypatch.setattr(listener, "WARM_UP_TIMEOUT_S", 1)
    with listener_sessions() as session:
        before = _counts(session)
    locker = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITE_LOCK, str(listener_engine.url.database), "4"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    intake = _intake(listener_engine, tmp_path)
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="tumorboard.imaging.dicom.listener"):
            intake.warm_up()
        assert time.monotonic() - started < 3  # the listener goes on to serve while the lock is held
        assert "warm-up skipped (TimeoutError)" in caplog.text
        assert locker.wait(10) == 0
        # the rehearsal ran once the lock was gone, rolled back; a real instance after it is indexed
        ds = ct_dataset(study_uid="1.2.826.0.1.89", series_uid="1.2.826.0.1.89.1", number=1)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        header = read_header(
            buffer, sop_class_uid=str(ds.SOPClassUID), sop_instance_uid=str(ds.SOPInstanceUID),
            transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        )  # fmt: skip
        with listener_sessions() as session:
            partner_id = session.scalar(select(Partner.id).order_by(Partner.id).limit(1))
        assert partner_id is not None
        intake.indexer.submit(
            header, partner_id=partner_id, sha256="cd" * 32, size=10, calling_ae_title="PARTNER1",
            peer_address="127.0.0.1", at=NOW,
        ).result(timeout=30)  # fmt: skip
        with listener_sessions() as session:
            after = _counts(session)
            studies = session.scalars(select(ImagingStudy.study_uid)).all()
        assert after[:3] == (before[0] + 1, before[1] + 1, before[2] + 1)
        assert "2.25.0.1" not in studies
    finally:
        locker.kill()
        locker.communicate()
        intake.indexer.stop()
        intake.workers.shutdown()


#: argv: database path, seconds to hold SQLite's write lock.
_HOLD_WRITE_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
connection.close()
"""


def test_the_listener_starts_and_serves_while_another_process_holds_the_write_lock(
    listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Found in review: the start-up reconciliation needs the write lock, and the listener exited with "database
    busy" while another process held it past the busy timeout. It now waits and tries again."""
    if listener_engine.dialect.name != "sqlite":
        pytest.skip("another process's write lock: SQLite")
    locker = subprocess.Popen(
        [sys.executable, "-c", _HOLD_WRITE_LOCK, str(listener_engine.url.database), "6"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    proc = Listener(
        listener_engine.url.render_as_string(hide_password=False), tmp_path / "imaging", tmp_path / "listener.log",
        TUMORBOARD_DB_BUSY_TIMEOUT_MS="2000", TUMORBOARD_DICOM_WORKERS="1",
    )  # fmt: skip
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        proc.start()
        assert locker.wait(10) == 0
        assert echoscu(proc.port).returncode == 0
        with listener_sessions() as session:
            assert "2.25.0.1" not in session.scalars(select(ImagingStudy.study_uid)).all()
    finally:
        locker.kill()
        locker.communicate()
        proc.stop()
