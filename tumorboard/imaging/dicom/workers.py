"""Associations served in more than one process (issue 16: pynetdicom, the header parse and the indexer of one
process share one interpreter lock, so one listener process used one core).

The listener process is the *door*: it alone binds the listening socket, prepares and reconciles the store before
the first connection, owns the gate (every count of tumorboard/imaging/dicom/gate.py stays global and exact) and
serves associations itself. It also starts ``TUMORBOARD_DICOM_WORKERS - 1`` worker processes (``tumorboard
imaging worker``, a fresh interpreter each) and hands each admitted connection to the process with the fewest
live associations, itself included (ties go to a worker):

- door → worker, over a Unix ``SOCK_SEQPACKET`` pair (one message per hand-off, the descriptor travels with it,
  no partial reads): a small JSON header ``{"id", "address", "over_limit"}`` and the connection's descriptor
  (``SCM_RIGHTS``). While the connection is unauthorized the door keeps its own descriptor: the sweep's
  ``shutdown`` on it ends the worker's ``recv``, and a peer's close shows on it;
- worker → door: 9-byte records, ``b"A"`` (authorized: our EVT_REQUESTED handler accepted it) or ``b"E"``
  (its association thread ended) and the connection id; they stand in for ``assoc.is_alive()`` and
  :meth:`Gate.authorized` of a connection served in the door.

A worker dies with the door (``PR_SET_PDEATHSIG`` SIGKILL, and it exits when its control socket reaches EOF). A
worker that dies is logged and started again after a backoff; its unauthorized connections leave the gate's
count, its authorized ones are cut off (their senders see the connection close before the unacknowledged
instances' responses: nothing acknowledged is lost, see the listener's order per instance).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tumorboard.imaging.dicom.gate import Gate, GuardedSocket, Remote, peer_closed, raw_socket

log = logging.getLogger(__name__)

#: Worker → door: ready (connection id 0), authorized, ended, and the connection id.
_REPORT = struct.Struct("!cQ")
READY, AUTHORIZED, ENDED = b"R", b"A", b"E"
#: Restart delays of a worker that died: first, cap, and how long it must have run to count as a first death.
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 1.0, 30.0, 60.0
#: Seconds a stopping worker has between SIGTERM and SIGKILL.
STOP_GRACE = 3.0
POLL = 0.1
_PR_SET_PDEATHSIG = 1


def temp_prefix(number: int) -> str:
    """How the names of worker ``number``'s temp files in ``incoming/`` begin (the door removes them when it
    dies; the door's own begin with ``tmp``)."""
    return f"w{number}-"


def backoff(deaths: int) -> float:
    """Seconds before the next start after ``deaths`` consecutive quick deaths (1, 2, 4, … 30)."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, deaths - 1)))


@dataclass(eq=False)
class _Worker:
    number: int
    proc: subprocess.Popen[bytes] | None = None
    control: socket.socket | None = None
    #: It has reported that it is ready to serve (connections are handed only to ready workers).
    ready: bool = False
    #: Connections handed to it and not reported ended, by id.
    live: dict[int, Remote] = field(default_factory=dict)
    started_at: float = 0.0
    deaths: int = 0
    due: float = 0.0


class Workers:
    """The door's side: starts and restarts the workers, hands connections to them, reads their reports."""

    def __init__(
        self,
        count: int,
        argv: Callable[[int, int, int], Sequence[str]],
        gate: Gate,
        local_associations: Callable[[], int],
        max_associations: int,
        after_death: Callable[[int], None] = lambda number: None,
    ) -> None:
        """``count`` workers; ``argv(number, control_fd, parent_pid)`` is a worker's command line;
        ``local_associations()`` how many associations the door serves itself; ``after_death(number)`` runs
        before a dead worker is started again (its temp files)."""
        self._argv = argv
        self._after_death = after_death
        self._gate = gate
        self._local = local_associations
        self._max = max_associations
        self._workers = [_Worker(n) for n in range(1, count + 1)]
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._next_id = 0
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="dicom-workers", daemon=True)

    def start(self) -> None:
        for worker in self._workers:
            self._start(worker)
        self._monitor.start()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every worker has reported ready (at most ``timeout`` seconds); returns whether all are."""
        with self._ready:
            return self._ready.wait_for(lambda: all(w.ready for w in self._workers), timeout)

    def pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._workers if w.proc is not None]

    # --- hand-off (the server thread) ---------------------------------------------------------------------------
    def hand_off(self, sock: socket.socket, client_address: Any, guarded: GuardedSocket) -> bool:
        """Hand the admitted connection on ``sock`` to the worker with the fewest live associations, unless the
        door has fewer; returns whether a worker took it (else the door serves it, ``guarded`` as it is)."""
        local = self._local()
        with self._lock:
            running = [w for w in self._workers if w.control is not None and w.ready]
            total = local + sum(len(w.live) for w in self._workers) + 1
            guarded.over_limit = total > self._max
            target = min(running, key=lambda w: len(w.live), default=None)
            if target is None or len(target.live) > local:
                return False
            self._next_id += 1
            remote = Remote(target.number, self._next_id)
            target.live[remote.conn_id] = remote
            control = target.control
        assert control is not None
        self._gate.handed_off(sock, remote)  # before the worker can report on it
        header = json.dumps(
            {"id": remote.conn_id, "address": list(client_address[:2]), "over_limit": guarded.over_limit}
        ).encode()
        try:
            socket.send_fds(control, [header], [sock.fileno()])
        except OSError as err:
            log.warning("DICOM worker %d did not take a connection (%s): served here", target.number,
                        type(err).__name__)  # fmt: skip
            with self._lock:
                target.live.pop(remote.conn_id, None)
            self._gate.handed_off(sock, None)
            return False
        log.debug("connection %d from %s to worker %d", remote.conn_id, client_address[0], target.number)
        return True

    # --- reports (one reader thread per running worker) ---------------------------------------------------------
    def _read(self, worker: _Worker, control: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                data = control.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            buffer += data
            while len(buffer) >= _REPORT.size:
                kind, conn_id = _REPORT.unpack_from(buffer)
                buffer = buffer[_REPORT.size :]
                if kind == READY:
                    with self._ready:
                        worker.ready = True
                        self._ready.notify_all()
                    continue
                with self._lock:
                    remote = worker.live.get(conn_id)
                    if kind == ENDED and remote is not None:
                        del worker.live[conn_id]
                        remote.ended = True
                if remote is not None:
                    self._gate.remote_settled(remote)
        self._lost(worker, control)

    def _lost(self, worker: _Worker, control: socket.socket) -> None:
        """The worker's control socket reached EOF (it died): its connections are over."""
        with self._lock:
            if worker.control is control:
                worker.control = None
                worker.ready = False
            lost = list(worker.live.values())
            worker.live.clear()
        for remote in lost:
            remote.ended = True
            self._gate.remote_settled(remote)
        with contextlib.suppress(OSError):
            control.close()

    # --- processes ---------------------------------------------------------------------------------------------
    def _start(self, worker: _Worker) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            argv = list(self._argv(worker.number, theirs.fileno(), os.getpid()))
            worker.proc = subprocess.Popen(argv, pass_fds=[theirs.fileno()])
        except OSError:
            log.exception("DICOM worker %d could not be started", worker.number)
            ours.close()
            worker.due = time.monotonic() + backoff(worker.deaths + 1)
            return
        finally:
            theirs.close()
        worker.started_at = time.monotonic()
        with self._lock:
            worker.control = ours
        threading.Thread(target=self._read, args=(worker, ours), name=f"dicom-worker-{worker.number}",
                         daemon=True).start()  # fmt: skip
        log.info("DICOM worker %d started (pid %d)", worker.number, worker.proc.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(POLL):
            now = time.monotonic()
            for worker in self._workers:
                if worker.proc is None:
                    if now >= worker.due and not self._stopping.is_set():
                        self._start(worker)
                    continue
                code = worker.proc.poll()
                if code is None:
                    continue
                ran = now - worker.started_at
                worker.deaths = 1 if ran >= STABLE_AFTER else worker.deaths + 1
                delay = backoff(worker.deaths)
                log.error("DICOM worker %d (pid %d) ended with %s after %.0f s; restart in %.0f s", worker.number,
                          worker.proc.pid, code, ran, delay)  # fmt: skip
                with self._lock:
                    control = worker.control
                if control is not None:
                    with contextlib.suppress(OSError):
                        control.shutdown(socket.SHUT_RDWR)  # its reader sees EOF and releases its connections
                worker.proc, worker.due = None, now + delay
                try:
                    self._after_death(worker.number)
                except Exception:
                    log.exception("DICOM worker %d: clean-up after its death failed", worker.number)

    def stop(self) -> None:
        """SIGTERM to every worker, SIGKILL to those still running after :data:`STOP_GRACE` seconds."""
        self._stopping.set()
        if self._monitor.is_alive():
            self._monitor.join(5)
        procs = [w.proc for w in self._workers if w.proc is not None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("DICOM worker (pid %d) still running after %.0f s; killed", proc.pid, STOP_GRACE)
                proc.kill()
                proc.wait()
        for worker in self._workers:
            if worker.control is not None:
                with contextlib.suppress(OSError):
                    worker.control.close()


def serving(assoc: Any) -> bool:
    """Whether an acceptor association still serves its connection: its thread runs and neither it nor the peer
    has closed the connection (after a peer's close before any request pynetdicom's thread waits out the ACSE
    timeout, with nothing to serve)."""
    if assoc.ident is not None and not assoc.is_alive():
        return False  # ended (not: not started yet — EVT_CONN_OPEN comes just before its thread starts)
    sock = raw_socket(assoc)
    return sock is not None and not peer_closed(sock)


# --- the worker's side ---------------------------------------------------------------------------------------------
def die_with_parent(parent: int) -> None:
    """SIGKILL when the door dies (``PR_SET_PDEATHSIG``); if it already died before that was set, exit now."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        raise SystemExit(1)


@dataclass(eq=False)
class _Connection:
    conn_id: int
    guarded: GuardedSocket
    assoc: Any = None
    #: Set when its hand-over to pynetdicom failed: ended without an association.
    failed: bool = False


class Connections:
    """A worker's connections, and its reports on them to the door; the ``gate`` the listener's handlers are
    given in a worker (:meth:`opened`, :meth:`authorized` as :class:`Gate` has them)."""

    def __init__(self, control: socket.socket) -> None:
        self._control = control
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._stopping = threading.Event()

    def receive(self) -> tuple[_Connection, Any] | None:
        """The next connection from the door (with its client address), or None when the door is gone."""
        try:
            message, fds, _, _ = socket.recv_fds(self._control, 4096, 1)
        except OSError:
            return None
        if not fds:
            return None  # EOF: the door closed its end or died
        sock = socket.socket(fileno=fds[0])
        for extra in fds[1:]:  # cannot happen: one descriptor per message
            os.close(extra)
        header = json.loads(message)
        address = header["address"]
        connection = _Connection(int(header["id"]), GuardedSocket(sock, str(address[0]),
                                                                  over_limit=bool(header["over_limit"])))  # fmt: skip
        with self._lock:
            self._connections.append(connection)
        return connection, tuple(address)

    def opened(self, assoc: Any) -> None:
        """EVT_CONN_OPEN: the association that serves a connection."""
        raw = raw_socket(assoc)
        with self._lock:
            for connection in self._connections:
                if connection.guarded is raw:
                    connection.assoc = assoc

    def authorized(self, assoc: Any) -> None:
        """Our EVT_REQUESTED handler accepted the peer: no size limit, and the door stops counting it."""
        raw = raw_socket(assoc)
        if isinstance(raw, GuardedSocket):
            raw.lift()
        with self._lock:
            found = next((c for c in self._connections if c.assoc is assoc), None)
        if found is not None:
            self._report(AUTHORIZED, found.conn_id)

    def ready(self) -> None:
        """Tell the door that this worker serves from now on."""
        self._report(READY, 0)

    def failed(self, connection: _Connection) -> None:
        connection.failed = True

    def watch(self, interval: float = 0.05) -> None:
        """Report the connections whose association thread has ended (a daemon thread)."""

        def run() -> None:
            while not self._stopping.wait(interval):
                with self._lock:
                    ended = [c for c in self._connections if c.failed or (c.assoc is not None and not serving(c.assoc))]
                    self._connections = [c for c in self._connections if c not in ended]
                for connection in ended:
                    self._report(ENDED, connection.conn_id)

        threading.Thread(target=run, name="dicom-connections", daemon=True).start()

    def live(self) -> int:
        with self._lock:
            return len(self._connections)

    def _report(self, kind: bytes, conn_id: int) -> None:
        with self._send_lock, contextlib.suppress(OSError):  # the door is gone: this worker ends anyway
            self._control.send(_REPORT.pack(kind, conn_id))
