"""The listener's door: who may hold a connection before being authorized, and for how long (issue 16).

pynetdicom counts every accepted connection against ``maximum_associations`` from the moment it is accepted,
and an accepted socket has no timeout: a peer that sends the first six bytes of an A-ASSOCIATE-RQ (type and a
length) and then nothing blocks its DUL thread in ``recv`` for good, and the association thread waiting for it
(``Association.kill`` loops until the DUL stops) never ends. Eleven such connections kept every partner out.

Here each accepted connection is *unauthorized* until our EVT_REQUESTED handler has authorized its calling AE
title for its address, and:

- per peer IP address and in total, only so many unauthorized connections are held; a further one is closed
  right at ``accept`` (``verify_request``), before pynetdicom starts a thread for it;
- every socket gets the network timeout (pynetdicom does the same for the sockets it opens as a requestor), so
  no read or write waits longer;
- a connection that has not completed its association request within the network timeout is shut down by the
  server loop's sweep (``service_actions``, twice a second), which also catches peers that trickle a byte at a
  time — the DUL's ``recv`` returns and pynetdicom ends the association as if the peer had closed;
- until it is authorized a connection may send at most :data:`MAX_REQUEST_BYTES`: pynetdicom reads a PDU whole
  into memory, whatever length its header claims (up to 4 GiB).

An unauthorized connection leaves the count when it is authorized or when its association thread has ended
(rejected ones only after their audit attempt, so rejections cannot pile up threads either).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from pynetdicom import AE
from pynetdicom.transport import AssociationServer

from tumorboard.imaging.config import AssociationLimits

log = logging.getLogger(__name__)

#: Bytes a connection may send before it is authorized: an A-ASSOCIATE-RQ proposing every storage SOP class with
#: a dozen transfer syntaxes each is about 70 kB; user identity tokens add a few kB.
MAX_REQUEST_BYTES = 1 << 20


class GuardedSocket:
    """The accepted socket as pynetdicom sees it: reads end (as at EOF, and the socket is shut down) once an
    unauthorized peer has sent :data:`MAX_REQUEST_BYTES`; everything else is the socket's own."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self._sock = sock
        self._address = address
        self._left: int | None = MAX_REQUEST_BYTES

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

    def lift(self) -> None:
        """Authorized: no limit beyond pynetdicom's own."""
        self._left = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@dataclass(eq=False)
class _Pending:
    sock: socket.socket
    address: str
    deadline: float
    guarded: GuardedSocket
    assoc: Any = None
    closed_by_us: bool = field(default=False)

    def over(self) -> bool:
        """The connection is gone: its association thread ended (or, before it had one, its socket closed)."""
        if self.assoc is not None:
            return not self.assoc.is_alive()
        return self.sock.fileno() == -1


class Gate:
    """Unauthorized connections: admitted within the limits, timed out, forgotten once authorized or ended."""

    def __init__(self, limits: AssociationLimits, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []

    def admit(self, sock: socket.socket, address: str) -> bool:
        """Called at ``accept``: hold the connection (with the network timeout on its socket) or refuse it."""
        with self._lock:
            self._pending = [p for p in self._pending if not p.over()]
            same = sum(1 for p in self._pending if p.address == address)
            if same >= self.limits.max_unauthorized_per_address or len(self._pending) >= self.limits.max_unauthorized:
                too_many = "from this address" if same >= self.limits.max_unauthorized_per_address else "in total"
                log.warning(
                    "connection from %s closed: too many unauthorized connections %s (%d from it, %d in total)",
                    address,
                    too_many,
                    same,
                    len(self._pending),
                )
                return False
            sock.settimeout(self.limits.network_timeout)
            deadline = self._monotonic() + self.limits.network_timeout
            self._pending.append(_Pending(sock, address, deadline, GuardedSocket(sock, address)))
            return True

    def guarded(self, sock: socket.socket) -> GuardedSocket | socket.socket:
        """The admitted socket as pynetdicom gets it."""
        with self._lock:
            return next((p.guarded for p in self._pending if p.sock is sock), sock)

    def opened(self, assoc: Any) -> None:
        """EVT_CONN_OPEN: remember the association that serves the socket (its thread tells when it ended)."""
        sock = _raw_socket(assoc)
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

    def sweep(self) -> None:
        """Shut down the connections whose time to complete the association request is over."""
        now = self._monotonic()
        with self._lock:
            self._pending = [p for p in self._pending if not p.over()]
            expired = [p for p in self._pending if p.deadline <= now and not p.closed_by_us]
            for pending in expired:
                pending.closed_by_us = True
        for pending in expired:
            log.warning(
                "connection from %s closed: no association request completed within %d s",
                pending.address,
                self.limits.network_timeout,
            )
            with contextlib.suppress(OSError):  # already closed
                pending.sock.shutdown(socket.SHUT_RDWR)  # wakes a DUL blocked in recv(); pynetdicom closes it

    def unauthorized(self) -> int:
        with self._lock:
            return sum(1 for p in self._pending if not p.over())


def _raw_socket(assoc: Any) -> Any:
    wrapper = getattr(assoc.dul, "socket", None)
    return getattr(wrapper, "socket", None)


class GuardedServer(AssociationServer):
    """pynetdicom's (non-threaded) association server with the gate at ``accept`` and the sweep in its loop.
    Both run in the server's one thread, as does EVT_CONN_OPEN, so a connection is registered with its
    association before the next one is admitted."""

    gate: Gate

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.gate.admit(request, str(client_address[0]))

    def process_request(self, request: Any, client_address: Any) -> None:
        # pynetdicom uses recv/send/shutdown/close/fileno of what it gets: the proxy has them all.
        super().process_request(cast(socket.socket, self.gate.guarded(request)), client_address)

    def service_actions(self) -> None:
        super().service_actions()
        self.gate.sweep()


class ListenerAE(AE):
    """An AE whose servers are :class:`GuardedServer` s sharing one gate."""

    def __init__(self, ae_title: str, gate: Gate) -> None:
        super().__init__(ae_title=ae_title)
        self.gate = gate

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
                address, ae_title, contexts, ssl_context, evt_handlers, server_class=GuardedServer, **kwargs
            ),
        )
        server.gate = self.gate
        return server
