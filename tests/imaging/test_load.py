"""Everyday load with real peers: ten partners' DCMTK ``storescu`` associations at once into a real listener
process, while a coordinator's browser registers cases through the web app on the same database (SQLite, and
PostgreSQL when TUMORBOARD_TEST_PG_ADMIN_URL is set)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import NOW, csrf_from, make_settings
from tests.imaging.conftest import Listener
from tests.imaging.dicomfiles import DCMTK_ENV, STORESCU, parse_storescu, storescu, write_study
from tumorboard.auth.actors import CLI
from tumorboard.bootstrap import bootstrap
from tumorboard.cases.models import Case
from tumorboard.clock import FixedClock
from tumorboard.conferences.models import Board
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy
from tumorboard.patients.models import Patient

#: The listener and one worker process (tests/imaging/conftest.py): issue 16's acceptance runs across processes.
LISTENER_PROCESSES = 2
pytestmark = pytest.mark.db

ASSOCIATIONS, PER_ASSOCIATION, REGISTRATIONS = 10, 50, 12


def _post(client: Any, url: str, data: dict[str, str], errors: list[str]) -> int:
    try:
        return int(client.post(url, data=data).status_code)
    except Exception as err:  # the test client re-raises what the app did not handle: a failed request
        errors.append(str(err))
        return 500


def _register_cases(
    engine: Engine, tmp_path: Path, results: list[int], errors: list[str], start: threading.Event
) -> None:
    runtime = bootstrap(make_settings(tmp_path, engine.url.render_as_string(hide_password=False)), engine=engine,
                        clock=FixedClock(NOW))  # fmt: skip
    from tumorboard.web import create_app

    client = create_app(runtime).test_client()
    start.wait(30)
    page = client.get("/login")
    data = {"csrf_token": csrf_from(page.text), "username": "dr.berger", "password": "tumorboard-demo"}
    while (status := _post(client, "/login", data, errors)) != 302:
        results.append(status)  # a failed login counts as a failed registration; the coordinator tries again
        if len(results) >= REGISTRATIONS:
            return
    with runtime.session_factory() as session:
        board = session.scalars(select(Board).where(Board.short_name == "Lunge")).one()
    for n in range(REGISTRATIONS):
        page = client.get(f"/cases/new?board={board.id}")
        data = {
            "csrf_token": csrf_from(page.text),
            "board": str(board.id),
            "session": "0",
            "family_name": f"Lastprobe{n:02d}",
            "given_name": "Erika",
            "birth_date": "1961-04-12",
            "sex": "W",
            "patient_number": f"KIS-LOAD{n:03d}",
            "referring_partner": "0",
            "partner_patient_id": "",
            "icd10_code": "C34.1",
            "icd10_text": "Adenokarzinom Oberlappen",
            "icdo_morphology": "8140/3",
            "tnm": "cT2 cN0 cM0",
            "ecog": "1",
            "conference_type": "praeth",
            "question": "Operation oder Radiochemotherapie?",
            "presenter": "0",
            "accession_number": "",
        }
        results.append(_post(client, "/cases/new", data, errors))


@pytest.fixture
def listener(listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[Listener]:
    """Ten partner sites, all sending from 127.0.0.1, with the default limits: of ten connections opened at once
    from one partner address, those beyond its four unauthorized slots wait for one (tests/imaging/test_gate.py)."""
    proc = Listener(
        listener_engine.url.render_as_string(hide_password=False), tmp_path / "imaging", tmp_path / "listener.log",
        TUMORBOARD_DICOM_WORKERS=str(LISTENER_PROCESSES),
    )  # fmt: skip
    proc.start()
    yield proc
    proc.stop()


def test_ten_partners_at_once_while_cases_are_registered(
    listener, listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path, caplog
):
    """The web app's transactions share the listener's database; on SQLite they begin with the write lock
    (tumorboard/db.py), so registrations wait for the indexer's commits instead of failing."""
    from tumorboard.demo.data import load_demo

    with listener_sessions() as session:
        assert load_demo(session, at=NOW, actor=CLI, horizon_weeks=4)
        session.commit()
    studies = [
        write_study(tmp_path / f"partner{a}", series=1, per_series=PER_ASSOCIATION, size=64)
        for a in range(ASSOCIATIONS)
    ]
    registered: list[int] = []
    errors: list[str] = []
    go = threading.Event()
    web_engine = listener_engine
    web = threading.Thread(target=_register_cases, args=(web_engine, tmp_path / "web", registered, errors, go))
    web.start()
    senders = [
        subprocess.Popen(
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
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _, files in studies
    ]
    go.set()
    outputs = [sender.communicate(timeout=300)[0] for sender in senders]
    web.join(300)

    statuses = [status for output in outputs for status in parse_storescu(output).values()]
    assert len(statuses) == ASSOCIATIONS * PER_ASSOCIATION, [o[-800:] for o in outputs if "Sending file" not in o]
    refused = [s for s in statuses if s != "success"]
    assert refused == [], f"{len(refused)} refused: {sorted(set(refused))}; log: {listener.log.read_text()[-3000:]}"
    assert all(sender.returncode == 0 for sender in senders)
    assert registered == [303] * REGISTRATIONS  # every registration saved (See Other: the new case)

    with listener_sessions() as session:
        assert session.scalar(select(func.count(ImagingInstance.id))) == ASSOCIATIONS * PER_ASSOCIATION
        counts = dict(session.execute(select(ImagingStudy.study_uid, ImagingStudy.instance_count)).all())
        assert counts == {uid: PER_ASSOCIATION for uid, _ in studies}
        assert set(session.scalars(select(ImagingSeries.instance_count)).all()) == {PER_ASSOCIATION}
        saved = session.scalar(
            select(func.count(Case.id)).join(Patient).where(Patient.patient_number.like("KIS-LOAD%"))
        )
        assert saved == REGISTRATIONS
    stored = {p.stem for p in (listener.storage / "objects").rglob("*.dcm")}
    with listener_sessions() as session:
        assert set(session.scalars(select(ImagingInstance.sha256)).all()) == stored


class _WriteLock:
    """Another process's exclusive write lock on the index for ``seconds`` (SQLite: BEGIN EXCLUSIVE; PostgreSQL:
    an exclusive lock on the instance table), held from a separate connection while the test goes on."""

    def __init__(self, engine: Engine, seconds: float) -> None:
        self.engine, self.seconds = engine, seconds
        self.taken = threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("COMMIT")  # leave the BEGIN db.py emitted: an exclusive one instead
                conn.exec_driver_sql("BEGIN EXCLUSIVE")
            else:
                conn.exec_driver_sql("LOCK TABLE imaging_instance IN EXCLUSIVE MODE")
            self.taken.set()
            time.sleep(self.seconds)
            conn.rollback()

    def __enter__(self) -> _WriteLock:
        self.thread.start()
        assert self.taken.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join()


def test_a_transfer_waits_for_a_write_lock_and_loses_nothing(listener, listener_engine, listener_sessions, tmp_path):
    _, files = write_study(tmp_path / "out", series=1, per_series=20, size=32)
    started = time.monotonic()
    with _WriteLock(listener_engine, 4):
        result = storescu(listener.port, files)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(parse_storescu(result.stdout + result.stderr).values()) == ["success"] * 20
    assert time.monotonic() - started >= 3.5  # it waited for the lock rather than failing
    with listener_sessions() as session:
        assert session.scalar(select(func.count(ImagingInstance.id))) == 20
        assert session.scalars(select(ImagingStudy.instance_count)).one() == 20
    assert len(list((listener.storage / "objects").rglob("*.dcm"))) == 20


def test_out_of_resources_only_once_the_database_stays_locked_past_the_timeout(
    listener_engine, listener_sessions, tmp_path
):
    from tests.imaging.conftest import Listener

    proc = Listener(
        listener_engine.url.render_as_string(hide_password=False),
        tmp_path / "imaging",
        tmp_path / "listener.log",
        TUMORBOARD_DICOM_WORKERS=str(LISTENER_PROCESSES),
        TUMORBOARD_IMAGING_INDEX_TIMEOUT="2",
    )
    proc.start()
    try:
        _, files = write_study(tmp_path / "out", series=1, per_series=3, size=32)
        with _WriteLock(listener_engine, 14):
            first = storescu(proc.port, files[:1])
        assert list(parse_storescu(first.stdout + first.stderr).values()) == ["failure: Refused: OutOfResources"], (
            first.stdout + first.stderr
        )[-2000:]
        assert list((proc.storage / "objects").rglob("*.dcm")) == []  # nothing kept of what was refused
        result = storescu(proc.port, files)  # the lock is gone: the resend and the rest are stored
        assert list(parse_storescu(result.stdout + result.stderr).values()) == ["success"] * 3
        with listener_sessions() as session:
            assert session.scalar(select(func.count(ImagingInstance.id))) == 3
        assert "database unavailable" in proc.log.read_text()
    finally:
        proc.stop()
