"""Nobody stalls the listener (issue 16): idle and trickling connections, idle associations, the limit of
unauthorized connections per address, and rejections that hold when the audit cannot be written. A real listener
process; DCMTK's echoscu/storescu as the registered partner (PARTNER1 at 127.0.0.1), raw sockets from other
loopback addresses (every 127.0.0.x is loopback on Linux) as the peers that stall."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pynetdicom import AE
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.imaging.conftest import Listener
from tests.imaging.dicomfiles import echoscu, parse_storescu, storescu, write_study
from tumorboard.audit.models import AuditEvent
from tumorboard.errors import ConfigurationError
from tumorboard.imaging.config import AssociationLimits, ImagingSettings
from tumorboard.imaging.models import ImagingInstance

#: The listener and one worker process (tests/imaging/conftest.py): issue 16's acceptance runs across processes.
LISTENER_PROCESSES = 2

#: The first six bytes of an A-ASSOCIATE-RQ: PDU type 1, reserved, length 4096 — and then nothing.
HEADER_ONLY = bytes([0x01, 0x00, 0x00, 0x00, 0x10, 0x00])
VERIFICATION = "1.2.840.10008.1.1"


def _connect(port: int, source: str, payload: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    if payload:
        sock.sendall(payload)
    return sock


def _closed_by_peer(sock: socket.socket, wait: float) -> bool:
    """Whether the listener has closed the connection (EOF or reset) within ``wait`` seconds."""
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _wait_closed(sock: socket.socket, timeout: float) -> float:
    """Seconds until the listener closed ``sock``; fails after ``timeout``."""
    start = time.monotonic()
    assert _closed_by_peer(sock, timeout), f"still open after {timeout} s"
    return time.monotonic() - start


@pytest.mark.db
def test_eleven_idle_connections_leave_a_registered_partner_its_echo_and_a_20_instance_store_within_5_s(
    listener: Listener, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _, files = write_study(tmp_path / "out", series=1, per_series=20)
    # Default timeouts (30 s): what lets the partner in here is the limit per address, not a timeout.
    idle = [_connect(listener.port, "127.0.0.2", HEADER_ONLY if n % 2 == 0 else b"") for n in range(11)]
    try:
        time.sleep(0.5)  # let the listener accept them all before the partner comes
        start = time.monotonic()
        echo = echoscu(listener.port)
        assert echo.returncode == 0, echo.stdout + echo.stderr
        result = storescu(listener.port, files)
        elapsed = time.monotonic() - start
        assert result.returncode == 0, result.stdout + result.stderr
        assert list(parse_storescu(result.stdout + result.stderr).values()) == ["success"] * 20
        assert elapsed < 5, elapsed
        # Four connections of that address are held (and will be timed out); the other seven were closed at once.
        closed = [_closed_by_peer(sock, 0.3) for sock in idle]
        assert closed.count(True) == 7 and closed[:4] == [False] * 4, closed
    finally:
        for sock in idle:
            sock.close()
    with listener_sessions() as session:
        assert session.scalar(select(func.count(ImagingInstance.id))) == 20
    assert "too many unauthorized connections from this address" in listener.log.read_text()


@pytest.mark.db
def test_stalled_connections_and_an_idle_association_are_closed_after_the_network_timeout(
    listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    proc = Listener(
        listener_engine.url.render_as_string(hide_password=False),
        tmp_path / "imaging",
        tmp_path / "listener.log",
        TUMORBOARD_DICOM_WORKERS=str(LISTENER_PROCESSES),
        TUMORBOARD_DICOM_NETWORK_TIMEOUT="2",
        TUMORBOARD_DICOM_ACSE_TIMEOUT="2",
        TUMORBOARD_DICOM_DIMSE_TIMEOUT="2",
    )
    proc.start()
    stop = threading.Event()
    socks: list[socket.socket] = []
    try:
        opened = time.monotonic()
        header_only = _connect(proc.port, "127.0.0.3", HEADER_ONLY)
        silent = _connect(proc.port, "127.0.0.3")
        # A byte every half second: each read completes well within the socket timeout, the request never does.
        trickle = _connect(proc.port, "127.0.0.3", HEADER_ONLY)
        socks += [header_only, silent, trickle]

        def drip() -> None:
            while not stop.wait(0.5):
                try:
                    trickle.send(b"\x00")
                except OSError:
                    return

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        # A registered partner that associates and then says nothing.
        scu = AE(ae_title="PARTNER1")
        scu.add_requested_context(VERIFICATION)
        assoc = scu.associate("127.0.0.1", proc.port, ae_title="TUMORBOARD")
        assert assoc.is_established

        for sock in (header_only, silent, trickle):
            _wait_closed(sock, 8)
            assert time.monotonic() - opened > 1.5  # by the timeout (2 s), not at once
        assert time.monotonic() - opened < 8
        deadline = time.monotonic() + 6
        while assoc.is_established and time.monotonic() < deadline:
            time.sleep(0.1)
        assert assoc.is_aborted and not assoc.is_established

        # The slots of that address are free again: four new connections from it are held, the fifth is not.
        time.sleep(2.5)  # the timed-out associations' threads end after the ACSE timeout
        again = [_connect(proc.port, "127.0.0.3") for _ in range(5)]
        socks += again
        assert [_closed_by_peer(sock, 0.5) for sock in again] == [False] * 4 + [True]
        assert proc.alive()
        log = proc.log.read_text()
        assert "no association request completed within 2 s" in log
    finally:
        stop.set()
        for sock in socks:
            sock.close()
        proc.stop()


@contextmanager
def _audit_table_locked(engine: Engine) -> Iterator[None]:
    """Another process (SQLite: an exclusive write lock on the whole database) or connection (PostgreSQL: an
    ACCESS EXCLUSIVE lock on the audit table) keeps the audit event from being written."""
    if engine.dialect.name == "sqlite":
        holding = (
            "import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
        )
        argv = [sys.executable, "-c", holding, str(engine.url.database)]
        with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
            assert holder.stdout is not None and holder.stdin is not None
            try:
                assert holder.stdout.readline().strip() == "locked"
                yield
            finally:
                holder.stdin.close()  # the holder reads to the end, exits and releases the lock
                holder.wait(10)
        return
    with engine.connect() as conn:
        conn.execute(text("LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE"))
        yield
        conn.rollback()


@pytest.mark.db
def test_an_unknown_ae_title_is_rejected_while_the_audit_table_is_locked(
    listener: Listener, listener_engine: Engine, listener_sessions: sessionmaker[Session]
) -> None:
    lost = "audit event of a rejected association could not be written"
    with _audit_table_locked(listener_engine):
        for _ in range(3):
            start = time.monotonic()
            stranger = echoscu(listener.port, aet="STRANGER")
            output = stranger.stdout + stranger.stderr
            assert stranger.returncode != 0 and "Calling AE Title Not Recognized" in output, output
            assert time.monotonic() - start < 5
        # Each audit write gives up after its 10 s wait for the lock: the events are lost (best effort, logged).
        deadline = time.monotonic() + 25
        while listener.log.read_text().count(lost) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    # The listener serves on and audits again.
    assert listener.alive()
    assert echoscu(listener.port, aet="STRANGER").returncode != 0
    deadline = time.monotonic() + 10
    while True:
        with listener_sessions() as session:
            rejects = session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.tag == "security:dicom:reject"))
        if rejects == 1:
            break
        assert time.monotonic() < deadline, rejects
        time.sleep(0.1)


def test_limits_come_from_the_environment_and_keep_room_for_partners(tmp_path: Path) -> None:
    from tumorboard.config import Settings

    settings = Settings.from_env(
        {"TUMORBOARD_ENV": "test", "TUMORBOARD_SECRET_KEY": "t" * 48, "TUMORBOARD_INSTANCE_PATH": str(tmp_path)}
    )
    assert ImagingSettings.from_env(settings, {}).limits == AssociationLimits()
    assert AssociationLimits().network_timeout == 30
    env = {
        "TUMORBOARD_DICOM_NETWORK_TIMEOUT": "5",
        "TUMORBOARD_DICOM_ACSE_TIMEOUT": "6",
        "TUMORBOARD_DICOM_DIMSE_TIMEOUT": "7",
        "TUMORBOARD_DICOM_MAX_ASSOCIATIONS": "12",
        "TUMORBOARD_DICOM_MAX_UNAUTHORIZED": "8",
        "TUMORBOARD_DICOM_MAX_UNAUTHORIZED_PER_ADDRESS": "2",
    }
    assert ImagingSettings.from_env(settings, env).limits == AssociationLimits(5, 6, 7, 12, 8, 2)
    with pytest.raises(ConfigurationError):
        ImagingSettings.from_env(settings, {**env, "TUMORBOARD_DICOM_MAX_UNAUTHORIZED": "12"})
    with pytest.raises(ConfigurationError):
        ImagingSettings.from_env(settings, {"TUMORBOARD_DICOM_NETWORK_TIMEOUT": "0"})


@pytest.mark.db
def test_an_association_request_larger_than_a_megabyte_is_cut_off(listener: Listener) -> None:
    # The header claims 64 MiB; pynetdicom would read (and hold in memory) all of it.
    sock = _connect(listener.port, "127.0.0.4", bytes([0x01, 0x00, 0x04, 0x00, 0x00, 0x00]))
    sent, limit = 0, 32 * 1024 * 1024
    try:
        chunk = bytes(64 * 1024)
        with contextlib.suppress(OSError):  # reset by the listener
            while sent < limit:
                sock.sendall(chunk)
                sent += len(chunk)
        assert sent < limit or _closed_by_peer(sock, 5), sent
    finally:
        sock.close()
    assert "association request larger than 1048576 bytes" in listener.log.read_text()
    assert listener.alive()


@pytest.mark.db
def test_strangers_filling_the_pool_of_unauthorized_connections_do_not_keep_a_registered_partner_out(
    listener: Listener, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _, files = write_study(tmp_path / "out", series=1, per_series=20)
    # Four addresses outside every partner network, four idle connections each: the whole pool of 16.
    idle = [_connect(listener.port, f"127.0.0.{host}", HEADER_ONLY) for host in (2, 3, 4, 5) for _ in range(4)]
    one_more = _connect(listener.port, "127.0.0.6")
    try:
        time.sleep(0.5)
        assert _closed_by_peer(one_more, 2)  # the pool is full for strangers
        start = time.monotonic()
        echo = echoscu(listener.port)
        assert echo.returncode == 0, echo.stdout + echo.stderr
        result = storescu(listener.port, files)
        assert result.returncode == 0, result.stdout + result.stderr
        assert list(parse_storescu(result.stdout + result.stderr).values()) == ["success"] * 20
        assert time.monotonic() - start < 5
        assert [_closed_by_peer(sock, 0.05) for sock in idle] == [False] * 16  # still held (until the timeout)
    finally:
        for sock in [*idle, one_more]:
            sock.close()
    with listener_sessions() as session:
        assert session.scalar(select(func.count(ImagingInstance.id))) == 20
    assert "too many unauthorized connections from addresses outside the partner networks" in listener.log.read_text()


@pytest.mark.db
def test_a_connection_closed_by_its_peer_frees_its_slot_at_once(listener: Listener) -> None:
    # Default timeouts (30 s): a slot that comes free here was freed by the peer's close, not by a timeout.
    first = [_connect(listener.port, "127.0.0.7", HEADER_ONLY if n % 2 else b"") for n in range(4)]
    time.sleep(0.3)
    assert [_closed_by_peer(sock, 0.05) for sock in first] == [False] * 4
    for sock in first:
        sock.close()
    time.sleep(0.3)
    again = [_connect(listener.port, "127.0.0.7") for _ in range(5)]
    try:
        assert [_closed_by_peer(sock, 0.5) for sock in again] == [False] * 4 + [True]
    finally:
        for sock in again:
            sock.close()


@pytest.mark.db
def test_a_partner_address_over_its_limit_waits_for_a_slot_instead_of_being_closed(
    listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    proc = Listener(
        listener_engine.url.render_as_string(hide_password=False),
        tmp_path / "imaging",
        tmp_path / "listener.log",
        TUMORBOARD_DICOM_WORKERS=str(LISTENER_PROCESSES),
        TUMORBOARD_DICOM_NETWORK_TIMEOUT="3",
    )
    proc.start()
    # Four connections from the partner's own address that never complete a request fill its four slots.
    idle = [_connect(proc.port, "127.0.0.1") for _ in range(4)]
    try:
        time.sleep(1)
        start = time.monotonic()
        echo = echoscu(proc.port)
        assert echo.returncode == 0, echo.stdout + echo.stderr
        # It got in when the idle ones were timed out (3 s), not earlier: it waited rather than being closed.
        assert time.monotonic() - start > 1
        assert all(_closed_by_peer(sock, 1) for sock in idle)
    finally:
        for sock in idle:
            sock.close()
        proc.stop()
