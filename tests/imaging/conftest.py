"""A real listener process per test module: its own database (SQLite file, or a fresh PostgreSQL database when
TUMORBOARD_TEST_PG_ADMIN_URL is set) and its own image store, driven by DCMTK over 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import NOW
from tests.databases import Template
from tests.imaging.dicomfiles import echoscu
from tumorboard.auth.actors import CLI
from tumorboard.db import make_engine, make_session_factory
from tumorboard.partners.services import add_endpoint, create_partner

CHECKOUT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Listener:
    """``tumorboard imaging listen`` as a subprocess."""

    def __init__(self, url: str, storage: Path, log: Path, *, wrap: list[str] | None = None, **env: str) -> None:
        self.url, self.storage, self.log = url, storage, log
        self.wrap, self.extra_env = wrap or [], env
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TUMORBOARD_ENV": "test",
            "TUMORBOARD_DATABASE_URL": self.url,
            "TUMORBOARD_SECRET_KEY": "t" * 48,
            "TUMORBOARD_INSTANCE_PATH": str(self.storage.parent),
            "TUMORBOARD_IMAGING_PATH": str(self.storage),
            "TUMORBOARD_DICOM_PORT": str(self.port),
            "TUMORBOARD_IMAGING_MIN_FREE_MB": "0",
            # one process unless the test asks for more (the listener fixture: LISTENER_PROCESSES of the test
            # module); a worker's start costs ~2 s, and per-association behaviour is the same in every process
            "TUMORBOARD_DICOM_WORKERS": "1",
            **self.extra_env,
        }

    def start(self) -> None:
        for _ in range(3):
            if self._start():
                return
            self.port = free_port()  # another process took the port between probe and bind
        raise AssertionError(self.log.read_text())

    def _start(self) -> bool:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*self.wrap, sys.executable, "-m", "tumorboard", "imaging", "listen"],
                cwd=CHECKOUT,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                assert "Address already in use" in self.log.read_text(), self.log.read_text()
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                time.sleep(0.1)
        raise AssertionError("listener did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def workers(self) -> list[int]:
        """The pids of the listener's worker processes."""
        assert self.proc is not None
        found = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            found += [int(pid) for pid in task.read_text().split()]
        return found

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and echoscu(self.port).returncode == 0


@pytest.fixture
def listener_engine(migrated: Template, tmp_path: Path) -> Iterator[Engine]:
    """A database of the listener's own (the test run's holds a transaction open), a copy of the migrated one."""
    with migrated.copy(tmp_path, "listener") as url:
        eng = make_engine(url)
        yield eng
        eng.dispose()


@pytest.fixture
def listener_sessions(listener_engine: Engine) -> sessionmaker[Session]:
    factory = make_session_factory(listener_engine)
    with factory() as session:
        partner = create_partner(session, name="Klinikum Test", quiet_period_seconds=5, at=NOW, actor=CLI)
        add_endpoint(session, partner, ae_title="PARTNER1", address="127.0.0.1", at=NOW, actor=CLI)
        other = create_partner(session, name="Praxis Fern", at=NOW, actor=CLI)
        add_endpoint(session, other, ae_title="FARAWAY", address="10.9.9.0/24", at=NOW, actor=CLI)
        session.commit()
    return factory


@pytest.fixture
def listener(
    request: pytest.FixtureRequest, listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> Iterator[Listener]:
    """``tumorboard imaging listen`` on its own database; with ``LISTENER_PROCESSES`` processes when the test module
    sets it (the issue-16 acceptance modules — load, gate, crash — run the listener and one worker process)."""
    processes = str(getattr(request.module, "LISTENER_PROCESSES", 1))
    proc = Listener(
        listener_engine.url.render_as_string(hide_password=False), tmp_path / "imaging", tmp_path / "listener.log",
        TUMORBOARD_DICOM_WORKERS=processes,
    )  # fmt: skip
    proc.start()
    yield proc
    proc.stop()
