"""Crash test: the listener process is killed with SIGKILL in the middle of a 500-instance transfer, restarted,
and the sender resends everything. Every instance DCMTK saw acknowledged is stored exactly once, nothing is
stored twice after the resend, and no temp files remain."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import func, select

from tests.imaging.dicomfiles import DCMTK_ENV, STORESCU, parse_storescu, storescu, write_study
from tumorboard.imaging.models import ImagingInstance, ImagingStudy

#: The listener and one worker process (tests/imaging/conftest.py): issue 16's acceptance runs across processes.
LISTENER_PROCESSES = 2
pytestmark = pytest.mark.db
COUNT = 500


def _objects(storage: Path) -> list[Path]:
    return sorted((storage / "objects").rglob("*.dcm"))


def test_sigkill_mid_transfer_then_resend_stores_every_acknowledged_instance_once(
    listener, listener_sessions, tmp_path
):
    study_uid, files = write_study(tmp_path / "out", series=1, per_series=COUNT, size=64)
    sop_of = {str(p): str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files}
    log = tmp_path / "storescu.log"
    with open(log, "w") as out:
        sender = subprocess.Popen(
            [
                STORESCU,
                "-v",
                "-aet",
                "PARTNER1",
                "-aec",
                "TUMORBOARD",
                "127.0.0.1",
                str(listener.port),
                *map(str, files),
            ],
            env=DCMTK_ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while log.read_text().count("Received Store Response (Success)") < COUNT // 3:
            assert time.monotonic() < deadline and sender.poll() is None, log.read_text()[-2000:]
            time.sleep(0.02)
        listener.stop(signal.SIGKILL)
        sender.wait(60)
    assert sender.returncode != 0  # the transfer really was cut off
    acknowledged = {sop_of[path] for path, status in parse_storescu(log.read_text()).items() if status == "success"}
    assert COUNT // 3 <= len(acknowledged) < COUNT

    listener.start()  # the same database and store
    assert list((listener.storage / "incoming").iterdir()) == []  # temp files of the killed process are gone
    with listener_sessions() as session:
        indexed = set(session.scalars(select(ImagingInstance.sop_instance_uid)).all())
    assert acknowledged <= indexed  # acknowledged ⇒ committed (and the file was renamed before the commit)
    stored_names = {p.stem for p in _objects(listener.storage)}
    with listener_sessions() as session:
        shas = set(session.scalars(select(ImagingInstance.sha256)).all())
    assert shas <= stored_names

    result = storescu(listener.port, files, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(parse_storescu(result.stdout + result.stderr).values()) == ["success"] * COUNT

    with listener_sessions() as session:
        per_sop = session.execute(
            select(ImagingInstance.sop_instance_uid, func.count()).group_by(ImagingInstance.sop_instance_uid)
        ).all()
        assert len(per_sop) == COUNT and {n for _, n in per_sop} == {1}
        study = session.scalars(select(ImagingStudy)).one()
        assert study.study_uid == study_uid and study.instance_count == COUNT
        assert not session.scalar(select(func.count()).where(ImagingInstance.conflicting.is_(True)))
    assert len(_objects(listener.storage)) == COUNT
    assert list((listener.storage / "incoming").iterdir()) == []
