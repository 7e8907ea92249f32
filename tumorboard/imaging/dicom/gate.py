"""The listener's door: who may hold a connection before being authorized, and for how long (issue 16).

pynetdicom counts every accepted connection against ``maximum_associations`` from the moment it is accepted,
and an accepted socket has no timeout: a peer that sends the first six bytes of an A-ASSOCIATE-RQ (type and a
length) and then nothing blocks its DUL thread in ``recv`` for good, and the association thread waiting for it
(``Association.kill`` loops until the DUL stops) never ends. Eleven such connections kept every partner out.

Here each accepted connection is *unauthorized* until our EVT_REQUESTED handler has authorized its calling AE
title for its address, and:

- per peer IP address only so many unauthorized connections are held (default 4). A further one from an address
  inside a registered partner network *waits* (no thread, no bytes read) until one of that address's earlier
  connections has been authorized or has ended — ten associations a partner site opens at once all get through,
  one after the other, in milliseconds; from any other address it is closed right at ``accept``;
- connections from addresses outside every registered partner network share a pool of ``max_unauthorized``
  (default 16); connections from partner addresses do not count against it. A handful of strangers' addresses
  can fill that pool, never keep a registered partner out; a partner address is bounded by its own per-address
  limit (and its waiting line by ``max_associations``). The partner networks are re-read every few seconds;
- every socket gets the network timeout (pynetdicom does the same for the sockets it opens as a requestor), so
  no read or write waits longer;
- a connection that has not completed its association request within the network timeout is shut down by the
  server loop's sweep (``service_actions``, twenty times a second), which also catches peers that trickle a byte
  at a time — the DUL's ``recv`` returns and pynetdicom ends the association as if the peer had closed; a
  waiting connection whose time is over is closed;
- until it is authorized a connection may send at most :data:`MAX_REQUEST_BYTES`: pynetdicom reads a PDU whole
  into memory, whatever length its header claims (up to 4 GiB).

An unauthorized connection leaves the count when it is authorized, when its association thread has ended
(rejected ones only after their audit attempt, so rejections cannot pile up threads either), or as soon as its
peer has closed it (pynetdicom's association thread would wait the ACSE timeout for a request that never comes)."""

from __future__ import annotations

import contextlib
import enum
import gc
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from pynetdicom import AE
from pynetdicom.transport import AssociationServer

from tumorboard.imaging.config import AssociationLimits
from tumorboard.imaging.dicom.reactor import QuietRequestHandler

log = logging.getLogger(__name__)

#: Bytes a connection may send before it is authorized: an A-ASSOCIATE-RQ proposing every storage SOP class with
#: a dozen transfer syntaxes each is about 70 kB; user identity tokens add a few kB.
MAX_REQUEST_BYTES = 1 << 20


class GuardedSocket:
    """The accepted socket as pynetdicom sees it: reads end (as at EOF, and the socket is shut down) once an
    unauthorized peer has sent :data:`MAX_REQUEST_BYTES`; everything else is the socket's own."""

    def __init__(self, sock: socket.socket, address: str, *, over_limit: bool = False) -> None:
        self._sock = sock
        self._address = address
        self._left: int | None = MAX_REQUEST_BYTES
        #: Accepted while ``max_associations`` associations were already served by all processes together: the
        #: request is answered with A-ASSOCIATE-RJ "local limit exceeded" (pynetdicom counts only its process).
        self.over_limit = over_limit

    def recv(self, bufsize: int) -> bytes:
        if self._left is None:
            return self._sock.recv(bufsize)
        if self._left <= 0:
            log.warning("connection from %s closed: association request larger than %d bytes", self._address,
                        MAX_REQUEST_BYTES)  # fmt: skip
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            return b""
        data = self._sock.recv(min(bufsize, self._left))
        self._left -= len(data)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        if self._left is None:
            return self._sock.recv_into(buffer, nbytes)
        data = self.recv(nbytes or len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def lift(self) -> None:
        """Authorized: no limit beyond pynetdicom's own."""
        self._left = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@dataclass(eq=False)
class Remote:
    """A connection the listener handed to a worker process (tumorboard/imaging/dicom/workers.py): the worker
    reports when it is authorized and when it ended; meanwhile the listener keeps its own descriptor of the
    socket, for the network-timeout sweep and to see a peer's close."""

    worker: int
    conn_id: int
    ended: bool = False


@dataclass(eq=False)
class _Pending:
    sock: socket.socket
    address: str
    deadline: float
    guarded: GuardedSocket
    assoc: Any = None
    closed_by_us: bool = field(default=False)
    #: From an address inside a registered partner network (does not count against ``max_unauthorized``).
    partner: bool = False
    #: Served by a worker process; ``sock`` is then the listener's own descriptor, closed once forgotten.
    remote: Remote | None = None

    def over(self) -> bool:
        """The connection is gone: its socket was closed (by pynetdicom or by its peer) or its association thread
        ended (in this process or, for a remote one, in its worker)."""
        if self.assoc is not None and not self.assoc.is_alive():
            return True
        if self.remote is not None and self.remote.ended:
            return True
        return peer_closed(self.sock)

    def forget(self) -> None:
        """Out of the gate: a remote connection's descriptor here closes (the worker's stays open)."""
        if self.remote is not None:
            self.sock.close()


def peer_closed(sock: socket.socket) -> bool:
    """Whether ``sock`` is closed, or its peer has closed or reset the connection — without reading anything
    and without waiting: a non-blocking ``MSG_PEEK`` on a duplicate of the descriptor (the socket itself has a
    timeout, and Python would wait up to it before a ``recv``)."""
    try:
        fd = sock.fileno()
    except OSError:
        return True
    if fd == -1:
        return True
    try:
        probe = socket.socket(fileno=os.dup(fd))  # closing the probe closes only the duplicate
    except OSError:
        return True
    try:
        probe.setblocking(False)
        return probe.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, InterruptedError):
        return False  # open, nothing to read
    except OSError:
        return True  # reset, not connected
    finally:
        probe.close()


class Admission(enum.Enum):
    ADMIT = "admit"
    WAIT = "wait"
    REFUSE = "refuse"


@dataclass(eq=False)
class _Waiting:
    sock: socket.socket
    client_address: Any
    address: str
    deadline: float


class Gate:
    """Unauthorized connections: admitted within the limits, made to wait or refused, timed out, forgotten once
    authorized or ended."""

    def __init__(self, limits: AssociationLimits, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._waiting: list[_Waiting] = []
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []

    def set_partner_networks(self, networks: Iterable[str]) -> None:
        """The addresses registered partners connect from (their endpoints' networks)."""
        parsed = [ipaddress.ip_network(n, strict=False) for n in networks]
        with self._lock:
            self._networks = parsed

    def is_partner_address(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def _prune(self) -> None:
        """Under the lock: forget the connections that are over."""
        kept = []
        for pending in self._pending:
            if pending.over():
                pending.forget()
            else:
                kept.append(pending)
        self._pending = kept

    def admit(self, sock: socket.socket, address: str, client_address: Any = None) -> Admission:
        """Called at ``accept``: hold the connection (with the network timeout on its socket), let it wait for a
        slot of its address (partner addresses only) or refuse it."""
        partner = self.is_partner_address(address)
        with self._lock:
            self._prune()
            same = sum(1 for p in self._pending if p.address == address)
            strangers = sum(1 for p in self._pending if not p.partner)
            if same >= self.limits.max_unauthorized_per_address:
                waiting = sum(1 for w in self._waiting if w.address == address)
                if partner and waiting < self.limits.max_associations:
                    sock.settimeout(self.limits.network_timeout)
                    deadline = self._monotonic() + self.limits.network_timeout
                    self._waiting.append(_Waiting(sock, client_address, address, deadline))
                    return Admission.WAIT
                reason = "from this address"
            elif not partner and strangers >= self.limits.max_unauthorized:
                reason = "from addresses outside the partner networks"
            else:
                self._hold(sock, address, partner, self._monotonic() + self.limits.network_timeout)
                return Admission.ADMIT
        log.warning(
            "connection from %s closed: too many unauthorized connections %s (%d from it, %d in total)",
            address,
            reason,
            same,
            strangers if not partner else same,
        )
        return Admission.REFUSE

    def _hold(self, sock: socket.socket, address: str, partner: bool, deadline: float) -> None:
        sock.settimeout(self.limits.network_timeout)
        self._pending.append(_Pending(sock, address, deadline, GuardedSocket(sock, address), partner=partner))

    def guarded(self, sock: socket.socket) -> GuardedSocket | socket.socket:
        """The admitted socket as pynetdicom gets it."""
        with self._lock:
            return next((p.guarded for p in self._pending if p.sock is sock), sock)

    def opened(self, assoc: Any) -> None:
        """EVT_CONN_OPEN: remember the association that serves the socket (its thread tells when it ended)."""
        sock = raw_socket(assoc)
        with self._lock:
            for pending in self._pending:
                if pending.guarded is sock:
                    pending.assoc = assoc

    def authorized(self, assoc: Any) -> None:
        """Our EVT_REQUESTED handler accepted the peer: the connection no longer counts as unauthorized."""
        with self._lock:
            for pending in self._pending:
                if pending.assoc is assoc:
                    pending.guarded.lift()
            self._pending = [p for p in self._pending if p.assoc is not assoc]

    def handed_off(self, sock: socket.socket, remote: Remote | None) -> None:
        """The admitted connection on ``sock`` is served by a worker (``None``: by this process after all, the
        hand-off failed)."""
        with self._lock:
            for pending in self._pending:
                if pending.sock is sock:
                    pending.remote = remote
                    return
        if remote is not None:
            sock.close()  # not held (cannot happen: only admitted connections are handed off)

    def remote_settled(self, remote: Remote) -> None:
        """A worker reported its connection authorized or ended: it no longer counts as unauthorized."""
        with self._lock:
            for pending in self._pending:
                if pending.remote is remote:
                    pending.forget()
            self._pending = [p for p in self._pending if p.remote is not remote]

    def sweep(self) -> list[tuple[socket.socket, Any]]:
        """Shut down the connections whose time to complete the association request is over, close the waiting
        ones whose time is over, and return the waiting ones that now have a slot (to be served, in order)."""
        now = self._monotonic()
        with self._lock:
            self._prune()
            expired = [p for p in self._pending if p.deadline <= now and not p.closed_by_us]
            for pending in expired:
                pending.closed_by_us = True
            released: list[tuple[socket.socket, Any]] = []
            late: list[_Waiting] = []
            still: list[_Waiting] = []
            for waiting in self._waiting:
                same = sum(1 for p in self._pending if p.address == waiting.address)
                if waiting.deadline <= now or peer_closed(waiting.sock):
                    late.append(waiting)
                elif same < self.limits.max_unauthorized_per_address:
                    self._hold(waiting.sock, waiting.address, True, waiting.deadline)
                    released.append((waiting.sock, waiting.client_address))
                else:
                    still.append(waiting)
            self._waiting = still
        for pending in expired:
            log.warning(
                "connection from %s closed: no association request completed within %d s",
                pending.address,
                self.limits.network_timeout,
            )
            with contextlib.suppress(OSError):  # already closed
                pending.sock.shutdown(socket.SHUT_RDWR)  # wakes a DUL blocked in recv(); pynetdicom closes it
        for waiting in late:
            log.warning("connection from %s closed: waited for a free slot of its address too long", waiting.address)
            with contextlib.suppress(OSError):
                waiting.sock.shutdown(socket.SHUT_RDWR)
            waiting.sock.close()
        return released

    def unauthorized(self) -> int:
        with self._lock:
            return sum(1 for p in self._pending if not p.over())

    def is_waiting(self, sock: socket.socket) -> bool:
        with self._lock:
            return any(w.sock is sock for w in self._waiting)

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)


def over_limit(assoc: Any) -> bool:
    """Whether ``assoc`` was accepted beyond ``max_associations`` of all processes together."""
    sock = raw_socket(assoc)
    return isinstance(sock, GuardedSocket) and sock.over_limit


def raw_socket(assoc: Any) -> Any:
    wrapper = getattr(assoc.dul, "socket", None)
    return getattr(wrapper, "socket", None)


class GuardedServer(AssociationServer):
    """pynetdicom's (non-threaded) association server with the gate at ``accept`` and the sweep in its loop.
    Both run in the server's one thread, as does EVT_CONN_OPEN, so a connection is registered with its
    association before the next one is admitted."""

    gate: Gate
    #: Hands an admitted connection to a worker process and returns True, or returns False: served here
    #: (tumorboard/imaging/dicom/workers.py; None: no workers).
    hand_off: Callable[[socket.socket, Any, GuardedSocket], bool] | None = None
    #: Seconds between two sweeps when no connection arrives (pynetdicom: 0.5): a waiting connection gets its
    #: slot at most this long after an earlier one of its address was authorized.
    POLL_INTERVAL = 0.05
    #: pynetdicom collects garbage every 60th loop (dead association threads); at our interval, every 30 s.
    GC_INTERVAL = 30.0
    _last_gc = 0.0

    def verify_request(self, request: Any, client_address: Any) -> bool:
        verdict = self.gate.admit(request, str(client_address[0]), client_address)
        return verdict is Admission.ADMIT  # WAIT: the gate holds the socket; process_request comes with sweep()

    def shutdown_request(self, request: Any) -> None:
        if self.gate.is_waiting(request):
            return  # waiting for a slot, not refused
        super().shutdown_request(request)

    def process_request(self, request: Any, client_address: Any) -> None:
        guarded = self.gate.guarded(request)
        hand_off = self.hand_off
        if hand_off is not None and isinstance(guarded, GuardedSocket) and hand_off(request, client_address, guarded):
            return
        # pynetdicom uses recv/send/shutdown/close/fileno of what it gets: the proxy has them all.
        super().process_request(cast(socket.socket, guarded), client_address)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        super().serve_forever(min(poll_interval, self.POLL_INTERVAL))

    def service_actions(self) -> None:
        now = time.monotonic()
        if now - self._last_gc >= self.GC_INTERVAL:
            self._last_gc = now
            gc.collect()
        for request, client_address in self.gate.sweep():
            try:
                self.process_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
                super().shutdown_request(request)


class ListenerAE(AE):
    """An AE whose servers are :class:`GuardedServer` s sharing one gate."""

    def __init__(self, ae_title: str, gate: Gate) -> None:
        super().__init__(ae_title=ae_title)
        self.gate = gate
        #: Given to the servers it makes (:attr:`GuardedServer.hand_off`).
        self.hand_off: Callable[[socket.socket, Any, GuardedSocket], bool] | None = None

    def make_server(
        self,
        address: Any,
        ae_title: str | None = None,
        contexts: Any = None,
        ssl_context: Any = None,
        evt_handlers: Any = None,
        server_class: Any = None,
        **kwargs: Any,
    ) -> Any:
        # start_server(block=False) asks for pynetdicom's threaded server; ours is run by that same thread and
        # needs no thread per connection: the association runs in its own thread anyway.
        server = cast(
            GuardedServer,
            super().make_server(
                address,
                ae_title,
                contexts,
                ssl_context,
                evt_handlers,
                server_class=GuardedServer,
                request_handler=QuietRequestHandler,
                **kwargs,
            ),
        )
        server.gate = self.gate
        server.hand_off = self.hand_off
        return server
