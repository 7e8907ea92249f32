"""Associations served by more than one process (tumorboard/imaging/dicom/workers.py): the listener hands admitted
connections to its worker processes, the gate's counts stay global, a worker that dies loses only what was not
yet acknowledged and comes back, and no worker outlives the listener. Real listener processes, DCMTK peers."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom import dcmread
from pynetdicom import AE
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.imaging.conftest import Listener
from tests.imaging.dicomfiles import DCMTK_ENV, STORESCU, echoscu, parse_storescu, storescu, write_study
from tests.imaging.test_gate import HEADER_ONLY, VERIFICATION, _closed_by_peer, _connect
from tumorboard.errors import ConfigurationError
from tumorboard.imaging.config import ImagingSettings
from tumorboard.imaging.dicom.workers import Connections
from tumorboard.imaging.models import ImagingInstance

pytestmark = pytest.mark.db


def _start(engine: Engine, tmp_path: Path, **env: str) -> Listener:
    proc = Listener(
        engine.url.render_as_string(hide_password=False), tmp_path / "imaging", tmp_path / "listener.log", **env
    )
    proc.start()
    _wait_for(lambda: len(proc.workers()) == int(env.get("TUMORBOARD_DICOM_WORKERS", "2")) - 1)
    return proc


def _wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _indexed(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(ImagingInstance.id))) or 0


def _sender(port: int, files: list[Path], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "w") as out:
        return subprocess.Popen(
            [STORESCU, "-v", "-aet", "PARTNER1", "-aec", "TUMORBOARD", "127.0.0.1", str(port), *map(str, files)],
            env=DCMTK_ENV, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def test_concurrent_associations_are_served_by_the_listener_and_its_worker(
    listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    proc = _start(listener_engine, tmp_path, TUMORBOARD_DICOM_WORKERS="2", TUMORBOARD_LOG_LEVEL="DEBUG")
    try:
        studies = [write_study(tmp_path / f"p{n}", series=1, per_series=20, size=32) for n in range(4)]
        logs = [tmp_path / f"storescu{n}.log" for n in range(4)]
        senders = [_sender(proc.port, files, log) for (_, files), log in zip(studies, logs, strict=True)]
        for sender in senders:
            assert sender.wait(120) == 0
        statuses = [s for log in logs for s in parse_storescu(log.read_text()).values()]
        assert statuses == ["success"] * 80
        served = {int(pid) for pid in re.findall(r"served by process (\d+)", proc.log.read_text())}
        assert proc.proc is not None
        assert len(served) == 2 and served == {proc.proc.pid, *proc.workers()}, served  # both processes served
        with listener_sessions() as session:
            assert session.scalar(select(func.count(ImagingInstance.id))) == 80
    finally:
        proc.stop()


def test_a_worker_killed_mid_transfer_loses_only_unacknowledged_instances_and_comes_back(
    listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    proc = _start(listener_engine, tmp_path, TUMORBOARD_DICOM_WORKERS="2")
    try:
        count = 600
        _, files = write_study(tmp_path / "out", series=1, per_series=count, size=128)
        sop_of = {str(p): str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files}
        [worker] = proc.workers()
        log = tmp_path / "storescu.log"
        sender = _sender(proc.port, files, log)  # one association: a worker's (ties go to a worker)
        deadline = time.monotonic() + 120
        while _indexed(listener_sessions) < count // 4:  # storescu's log comes in buffered chunks
            assert time.monotonic() < deadline and sender.poll() is None, log.read_text()[-2000:]
            time.sleep(0.02)
        assert sender.poll() is None
        os.kill(worker, signal.SIGKILL)
        sender.wait(60)
        assert sender.returncode != 0  # cut off
        acknowledged = {sop_of[p] for p, status in parse_storescu(log.read_text()).items() if status == "success"}
        assert count // 4 <= len(acknowledged) < count
        with listener_sessions() as session:
            indexed = set(session.scalars(select(ImagingInstance.sop_instance_uid)).all())
            shas = set(session.scalars(select(ImagingInstance.sha256)).all())
        assert acknowledged <= indexed
        assert shas <= {p.stem for p in (proc.storage / "objects").rglob("*.dcm")}

        # The listener answered throughout and started the worker again.
        assert echoscu(proc.port).returncode == 0
        _wait_for(lambda: len(proc.workers()) == 1 and proc.workers() != [worker])
        assert f"DICOM worker 1 (pid {worker}) ended with -9" in proc.log.read_text()
        assert list((proc.storage / "incoming").iterdir()) == []  # its unfinished temp file was removed
        result = storescu(proc.port, files, timeout=300)
        assert list(parse_storescu(result.stdout + result.stderr).values()) == ["success"] * count
        with listener_sessions() as session:
            per_sop = session.execute(
                select(ImagingInstance.sop_instance_uid, func.count()).group_by(ImagingInstance.sop_instance_uid)
            ).all()
        assert len(per_sop) == count and {n for _, n in per_sop} == {1}
    finally:
        proc.stop()


def test_no_worker_outlives_a_killed_listener(listener_engine: Engine, tmp_path: Path) -> None:
    proc = _start(listener_engine, tmp_path, TUMORBOARD_DICOM_WORKERS="3")
    workers = proc.workers()
    assert len(workers) == 2 and all(_alive(pid) for pid in workers)
    proc.stop(signal.SIGKILL)
    _wait_for(lambda: not any(_alive(pid) for pid in workers), 5)
    with pytest.raises(OSError):  # nobody holds the port any more
        socket.create_connection(("127.0.0.1", proc.port), 0.5).close()


def test_a_stopped_listener_stops_its_workers(listener_engine: Engine, tmp_path: Path) -> None:
    proc = _start(listener_engine, tmp_path, TUMORBOARD_DICOM_WORKERS="3")
    workers = proc.workers()
    started = time.monotonic()
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(10) == 0
    _wait_for(lambda: not any(_alive(pid) for pid in workers), 10 - (time.monotonic() - started))


@pytest.mark.parametrize("processes", ["1", "3"])
def test_a_listener_stopped_during_ten_transfers_answers_no_instance_with_a_failure(
    listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path, processes: str
) -> None:
    # SIGTERM (the service manager's stop) may cut the transfers off — the senders send again — but must not
    # answer an instance in flight with an error status: a sender takes that as final and drops the instance.
    proc = _start(listener_engine, tmp_path, TUMORBOARD_DICOM_WORKERS=processes)
    studies = [write_study(tmp_path / f"p{n}", series=1, per_series=60, size=64) for n in range(10)]
    logs = [tmp_path / f"storescu{n}.log" for n in range(10)]
    senders = [_sender(proc.port, files, log) for (_, files), log in zip(studies, logs, strict=True)]
    try:
        deadline = time.monotonic() + 120
        while _indexed(listener_sessions) < 150:
            assert time.monotonic() < deadline, proc.log.read_text()[-2000:]
            time.sleep(0.02)
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(10) == 0
        for sender in senders:
            sender.wait(60)
    finally:
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
    statuses = [status for log in logs for status in parse_storescu(log.read_text()).values()]
    assert statuses.count("success") >= 100  # indexed before the stop; most of them acknowledged
    assert [s for s in statuses if s not in ("success", "not sent")] == []


def test_unauthorized_connections_held_by_workers_count_against_the_limit_of_their_address(
    listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    # Three processes: the four held connections are spread over the listener and both workers.
    proc = _start(listener_engine, tmp_path, TUMORBOARD_DICOM_WORKERS="3", TUMORBOARD_DICOM_NETWORK_TIMEOUT="6")
    socks: list[socket.socket] = []
    try:
        first = [_connect(proc.port, "127.0.0.2", HEADER_ONLY) for _ in range(5)]
        socks += first
        assert [_closed_by_peer(sock, 0.2) for sock in first] == [False] * 4 + [True]
        # A peer's close frees its slot at once, wherever the connection is served.
        first[0].close()
        first[1].close()
        time.sleep(0.3)
        again = [_connect(proc.port, "127.0.0.2") for _ in range(3)]
        socks += again
        assert [_closed_by_peer(sock, 0.2) for sock in again] == [False, False, True]
        # A worker killed with connections of that address: they are over, and leave the count.
        for pid in proc.workers():
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        held = [not _closed_by_peer(sock, 0.05) for sock in [*first[2:4], *again[:2]]]
        assert 0 < held.count(True) < 4, held  # the listener's own stay, the killed workers' are gone
        more = [_connect(proc.port, "127.0.0.2") for _ in range(5)]
        socks += more
        free = 4 - held.count(True)
        assert [_closed_by_peer(sock, 0.2) for sock in more] == [False] * free + [True] * (5 - free)
        # The network timeout (6 s) shuts down what workers hold too, through the listener's own descriptor.
        _wait_for(lambda: len(proc.workers()) == 2)
        late = [_connect(proc.port, "127.0.0.9", HEADER_ONLY) for _ in range(3)]
        socks += late
        opened = time.monotonic()
        for sock in late:
            assert _closed_by_peer(sock, 10)
        assert 5 < time.monotonic() - opened < 10
        assert echoscu(proc.port).returncode == 0
    finally:
        for sock in socks:
            sock.close()
        proc.stop()


def test_max_associations_counts_the_associations_of_all_processes(
    listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    # Two associations, one in each process: pynetdicom alone (which counts its own process) would admit a third.
    proc = _start(listener_engine, tmp_path, TUMORBOARD_DICOM_WORKERS="2", TUMORBOARD_DICOM_MAX_ASSOCIATIONS="2",
                  TUMORBOARD_DICOM_MAX_UNAUTHORIZED="1", TUMORBOARD_DICOM_ACSE_TIMEOUT="1",
                  TUMORBOARD_LOG_LEVEL="DEBUG")  # fmt: skip
    # The start-up probe's connection (closed without a request) keeps a pynetdicom thread for the ACSE timeout.
    time.sleep(1.5)
    scu = AE(ae_title="PARTNER1")
    scu.add_requested_context(VERIFICATION)
    held = []
    try:
        for _ in range(2):
            assoc = scu.associate("127.0.0.1", proc.port, ae_title="TUMORBOARD")
            assert assoc.is_established
            held.append(assoc)
        served = {int(pid) for pid in re.findall(r"served by process (\d+)", proc.log.read_text())}
        assert proc.proc is not None and len(served) == 2 and served == {proc.proc.pid, *proc.workers()}
        third = scu.associate("127.0.0.1", proc.port, ae_title="TUMORBOARD")
        assert third.is_rejected and not third.is_established
        _wait_for(lambda: "local limit exceeded" in proc.log.read_text(), 5)
        held.pop().release()
        time.sleep(0.3)
        again = scu.associate("127.0.0.1", proc.port, ae_title="TUMORBOARD")
        assert again.is_established  # room again
        held.append(again)
    finally:
        for assoc in held:
            assoc.release()
        proc.stop()


class _FakeAssociation(threading.Thread):
    """What Connections reads of a pynetdicom association: a thread, and ``dul.socket.socket``."""

    def __init__(self, sock: object) -> None:
        super().__init__(target=lambda: None)
        self.dul = SimpleNamespace(socket=SimpleNamespace(socket=sock))


def test_a_worker_reports_an_association_ended_only_after_its_thread_ran() -> None:
    """EVT_CONN_OPEN comes before pynetdicom starts the association's thread: a not yet started thread is not an
    ended one (found by the benchmark: the worker reported such a connection ended, never lifted its 1 MiB limit
    and cut off the authorized association at the first megabyte)."""
    door, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    peer, served = socket.socketpair()
    try:
        connections = Connections(worker_end)
        socket.send_fds(door, [json.dumps({"id": 7, "address": ["127.0.0.1", 4000], "over_limit": False}).encode()],
                        [served.fileno()])  # fmt: skip
        received = connections.receive()
        assert received is not None
        connection, address = received
        assert address == ("127.0.0.1", 4000) and connection.conn_id == 7
        assoc = _FakeAssociation(connection.guarded)
        connections.opened(assoc)
        connections.watch(interval=0.01)
        time.sleep(0.2)
        door.setblocking(False)
        with pytest.raises(BlockingIOError):
            door.recv(64)  # nothing reported yet
        connections.authorized(assoc)
        assert door.recv(64) == b"A" + (7).to_bytes(8, "big")
        door.setblocking(True)
        assoc.start()
        assoc.join()
        door.settimeout(2)
        assert door.recv(64) == b"E" + (7).to_bytes(8, "big")
        assert connection.guarded._left is None  # the 1 MiB limit is lifted
    finally:
        for sock in (door, worker_end, peer, served):
            sock.close()


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("1", 1), ("3", 3), ("0", ConfigurationError),
                                               ("65", ConfigurationError), ("zwei", ConfigurationError)])  # fmt: skip
def test_the_number_of_processes_comes_from_the_environment(tmp_path: Path, raw: str, expected: object) -> None:
    from tumorboard.config import Settings

    settings = Settings.from_env(
        {"TUMORBOARD_ENV": "test", "TUMORBOARD_SECRET_KEY": "t" * 48, "TUMORBOARD_INSTANCE_PATH": str(tmp_path)}
    )
    env = {"TUMORBOARD_DICOM_WORKERS": raw}
    if expected is ConfigurationError:
        with pytest.raises(ConfigurationError):
            ImagingSettings.from_env(settings, env)
        return
    default = max(1, min(os.cpu_count() or 1, 4))
    assert ImagingSettings.from_env(settings, env).processes == (expected or default)
