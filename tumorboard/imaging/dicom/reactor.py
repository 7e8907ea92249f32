"""pynetdicom's two threads per association, without their polling (issue 16: CPU per instance).

pynetdicom 3.0 runs each association in two threads that poll: the DUL reactor sleeps 1 ms whenever nothing
happened and checks again (socket, queues, timers), and the association reactor sleeps 1 ms before *every* check
of its queues. With four associations that is eight threads waking 1,000 times a second each, contending for the
GIL with the threads that do the work — a profile of four concurrent transfers had about a third of the
listener's samples in these two ``time.sleep(0.001)`` lines. pynetdicom's own TODO says "try and make this event
based rather than running loops".

Here, for the associations our server accepts, both loops are the same code with the sleep replaced by a wait
for the thing they poll for:

- the DUL reactor waits in ``select`` on its socket and an eventfd that every put into its two input queues
  (primitives to send, state-machine events) signals;
- the association reactor waits on an event that every put into its input queues (decoded DIMSE messages,
  primitives for the user) and the end of the DUL thread set.

Both waits are bounded by :data:`IDLE_WAIT` so that what is only checked by time (ARTIM and idle timers, a kill
flag) is seen within that bound, as before within a millisecond. Everything else — state machine, PDUs, DIMSE,
events — is pynetdicom's, and the listener's tests run through it. The socket's ``recv`` reads a whole PDU with
``recv_into`` instead of 4 kB ``recv`` calls appended to a ``bytearray``.

pynetdicom is pinned (pyproject.toml); these copies follow its 3.0.4 ``DULServiceProvider.run_reactor`` and
``Association._run_reactor``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import queue
import select
import struct
import threading
import time
import types
from typing import Any

from pynetdicom import evt
from pynetdicom.pdu import A_ABORT_RQ
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import RequestHandler
from pynetdicom.utils import make_target

from tumorboard.imaging.dicom import cstore

log = logging.getLogger("pynetdicom.dul")
assoc_log = logging.getLogger("pynetdicom.assoc")

#: Longest wait of an idle reactor, seconds: how late a timer or kill flag may be noticed.
IDLE_WAIT = 0.05


class Waker:
    """An eventfd that wakes a ``select``; safe against use after close (a closed descriptor's number may
    already belong to another file)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fd: int | None = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    def wake(self) -> None:
        with self._lock:
            if self.fd is not None:
                with contextlib.suppress(BlockingIOError):  # counter at its maximum: already awake
                    os.eventfd_write(self.fd, 1)

    def drain(self) -> None:
        with self._lock:
            if self.fd is not None:
                with contextlib.suppress(BlockingIOError):  # nothing to drain
                    os.eventfd_read(self.fd)

    def close(self) -> None:
        with self._lock:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None


class _Signalling(queue.Queue[Any]):
    """A queue whose ``put`` also wakes whoever waits for it."""

    def __init__(self, wake: Any) -> None:
        super().__init__()
        self._wake = wake

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._wake()


def _replace(old: queue.Queue[Any], wake: Any) -> _Signalling:
    new = _Signalling(wake)
    while True:  # nothing is queued yet when the association is created; moved over should that change
        try:
            new.put_nowait(old.get_nowait())
        except queue.Empty:
            return new


def quiet(assoc: Any) -> None:
    """Make a just-created acceptor association (not yet started) wait instead of polling."""
    dul = assoc.dul
    waker = Waker()
    work = threading.Event()
    dul._waker = waker
    assoc._work = work
    dul.to_provider_queue = _replace(dul.to_provider_queue, waker.wake)
    dul.event_queue = _replace(dul.event_queue, waker.wake)
    dul.to_user_queue = _replace(dul.to_user_queue, work.set)
    assoc.dimse.msg_queue = _replace(assoc.dimse.msg_queue, work.set)
    dul._target = make_target(types.MethodType(_dul_reactor, dul))  # the DUL thread has not been started yet
    dul.stop_dul = types.MethodType(_stop_dul, dul)
    assoc._run_reactor = types.MethodType(_association_reactor, assoc)
    assoc.dul.socket.recv = types.MethodType(_recv, assoc.dul.socket)
    cstore.install(assoc)


class _Contexts(list[Any]):
    """The server's supported presentation contexts, which pynetdicom deep-copies for every association (about
    150 storage SOP classes × 16 transfer syntaxes: tens of milliseconds of CPU per association). A context's only
    mutable part is its list of transfer syntaxes (UIDs are strings), so a copy of each context with its own list
    is the same as the deep copy, at a fraction of the cost."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        copied = []
        for context in self:
            twin = copy.copy(context)
            twin._transfer_syntax = list(context._transfer_syntax)
            copied.append(twin)
        return copied


class QuietRequestHandler(RequestHandler):
    """pynetdicom's request handler whose associations wait instead of polling."""

    def _create_association(self) -> Any:
        if not isinstance(self.server.contexts, _Contexts):
            self.server.contexts = _Contexts(self.server.contexts)
        assoc = super()._create_association()
        quiet(assoc)
        return assoc


#: Bytes set aside for a PDU before any of them arrived; beyond, the buffer doubles as they come. A PDU header's
#: length is the peer's claim (up to 4 GiB, and the listener accepts any PDU size): reserving it at once let six
#: bytes from anyone cost 4 GiB of zeroed memory.
FIRST_READ = 1 << 20


def _recv(self: Any, nr_bytes: int) -> bytearray:
    """``AssociationSocket.recv``: read ``nr_bytes`` (fewer only when the connection ends), blocking. Memory grows
    with what arrives (at most twice that), not with what ``nr_bytes`` announces."""
    buffer = bytearray(min(nr_bytes, FIRST_READ))
    read = 0
    sock = self.socket
    while read < nr_bytes:
        if read == len(buffer):
            buffer.extend(bytes(min(len(buffer), nr_bytes - read)))
        with memoryview(buffer) as view, view[read:] as rest:
            got = sock.recv_into(rest, len(rest))
        if not got:
            break
        read += got
    if read < len(buffer):
        del buffer[read:]
    return buffer


def _stop_dul(self: Any) -> bool:
    """``DULServiceProvider.stop_dul`` that wakes the waiting reactor to see its kill flag."""
    if self.state_machine.current_state == "Sta1":
        self._kill_thread = True
        self._waker.wake()
        while self.is_alive():
            time.sleep(0.001)
        return True
    return False


def _wait(dul: Any) -> None:
    """Until the socket has data, a queue got something, or :data:`IDLE_WAIT` has passed."""
    waker: Waker = dul._waker
    watched: list[Any] = [waker.fd] if waker.fd is not None else []
    transport = getattr(dul.socket, "socket", None)
    if transport is not None and getattr(dul.socket, "_is_connected", False):
        try:
            if transport.fileno() != -1:
                watched.append(transport)
        except OSError:
            pass
    if dul.to_provider_queue.qsize() or dul.event_queue.qsize():
        return
    try:
        select.select(watched, [], [], IDLE_WAIT)
    except (OSError, ValueError):  # the socket was closed meanwhile: the loop finds out
        time.sleep(IDLE_WAIT / 10)
    waker.drain()


def _dul_reactor(self: Any) -> None:
    """pynetdicom 3.0.4 ``DULServiceProvider.run_reactor`` with ``time.sleep(self._run_loop_delay)`` replaced by
    :func:`_wait`."""
    try:
        self._idle_timer.start()
        sleep = False
        while True:
            if not self.assoc._dul_ready.is_set():
                self.assoc._dul_ready.set()
                sleep = True
            if sleep:
                _wait(self)
            if self._kill_thread:
                break
            if self.artim_timer.expired:
                self.event_queue.put("Evt18")
            try:
                if self._process_recv_primitive():
                    pass
                elif _transport_event(self):
                    self._idle_timer.restart()
            except Exception as exc:
                log.error("Exception in DUL.run(), aborting association")
                log.exception(exc)
                abort_pdu = A_ABORT_RQ()
                abort_pdu.source = 0x02
                abort_pdu.reason_diagnostic = 0x00
                self.socket.send(abort_pdu.encode())
                self.assoc.is_aborted = True
                self.assoc.is_established = False
                self.assoc._kill = True
                self._kill_thread = True
                return
            try:
                event = self.event_queue.get(block=False)
            except queue.Empty:
                sleep = True
                continue
            self.state_machine.do_action(event)
            sleep = False
    finally:
        self._waker.close()
        self.assoc._work.set()  # the association reactor checks whether the DUL still runs


#: pynetdicom events whose handlers want the P-DATA-TF PDU objects and state-machine steps the direct path skips.
_PDU_EVENTS = (evt.EVT_DATA_RECV, evt.EVT_PDU_RECV, evt.EVT_FSM_TRANSITION)
_P_DATA_TF = 0x04
_PDU_HEADER = struct.Struct(">BBL")
_ITEM_LENGTH = struct.Struct(">L")


def _transport_event(dul: Any) -> bool:
    """pynetdicom 3.0.4 ``DULServiceProvider._is_transport_event`` whose PDUs are read by :func:`_read_pdu` on an
    established association (Sta6) without handlers for the PDU-level events; elsewhere pynetdicom's own."""
    if dul.state_machine.current_state != "Sta6" or any(dul.assoc.get_handlers(e) for e in _PDU_EVENTS):
        return bool(dul._is_transport_event())
    sock = dul.socket
    if sock and sock.ready:
        _read_pdu(dul)
        return True
    return False


def _read_pdu(dul: Any) -> None:
    """pynetdicom 3.0.4 ``DULServiceProvider._read_pdu_data``, except that a P-DATA-TF PDU (in Sta6 Evt10 always
    leads to DT-2 and back to Sta6) is handed to the DIMSE provider directly, as DT-2 does — without copying it three
    more times, building a PDU object per fragment and passing it through the event queue and the state machine (a
    fifth of the listener's GIL time for a CT series). Other PDUs are decoded and queued as pynetdicom does. A PDU
    cut short is Evt17, an unknown type or malformed items Evt19."""
    sock = dul.socket
    try:
        header = sock.recv(6)
        pdu_type, _, length = _PDU_HEADER.unpack(header)
    except (OSError, TimeoutError, struct.error):
        log.error("Connection closed before the entire PDU was received")
        dul.event_queue.put("Evt17")
        return
    if pdu_type not in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07):
        log.error("Unknown PDU type received '0x%02X'", pdu_type)
        dul.event_queue.put("Evt19")
        return
    try:
        body = sock.recv(length) if length else bytearray()
    except (OSError, TimeoutError):
        body = None
    if body is None or len(body) != length:
        log.error("Connection closed before the entire PDU was received")
        dul.event_queue.put("Evt17")
        return
    if pdu_type != _P_DATA_TF:
        try:
            pdu, event = dul._decode_pdu(header + body)
            dul.event_queue.put(event)
        except Exception as exc:
            log.error("Unable to decode the received PDU data")
            log.exception(exc)
            dul.event_queue.put("Evt19")
            return
        dul._recv_pdu.put(pdu)
        return
    items = _pdv_items(body)
    if items is None:
        log.error("Unable to decode the received PDU data")
        dul.event_queue.put("Evt19")
        return
    primitive = P_DATA()
    primitive.presentation_data_value_list.extend(items)  # as pynetdicom's to_primitive: no per-item type check
    dul.assoc.dimse.receive_primitive(primitive)


def _pdv_items(body: bytearray) -> list[tuple[int, Any]] | None:
    """The (context ID, message control header + fragment) pairs of a P-DATA-TF PDU's items (PS3.8 9.3.5.1), as
    views into ``body``; None when an item is shorter than its header or runs past the PDU (pynetdicom: Evt19)."""
    items: list[tuple[int, Any]] = []
    view = memoryview(body)
    offset, length = 0, len(body)
    while offset < length:
        if length - offset < 5:
            return None
        (item_length,) = _ITEM_LENGTH.unpack_from(body, offset)
        if item_length < 1 or offset + 4 + item_length > length:
            return None
        items.append((body[offset + 4], view[offset + 5 : offset + 4 + item_length]))
        offset += 4 + item_length
    return items or None


def _association_reactor(self: Any) -> None:
    """pynetdicom 3.0.4 ``Association._run_reactor`` with the ``time.sleep(0.001)`` before every check replaced by
    a wait for work (skipped right after a message was served: more may be queued)."""
    self._is_paused = False
    busy = False
    while not self._kill:
        if not busy:
            self._work.wait(IDLE_WAIT)
        self._work.clear()
        busy = False
        self._is_paused = True
        self._reactor_checkpoint.wait()
        self._is_paused = False

        context_id, msg = self.dimse.get_msg(block=False)
        if msg:
            self._serve_request(msg, context_id)
            busy = True

        if self.is_established and self.acse.is_release_requested():
            self.acse.send_release(is_response=True)
            assoc_log.info("Association Released")
            self.is_released = True
            self.is_established = False
            evt.trigger(self, evt.EVT_RELEASED, {})
            self.kill()
            return

        if self.acse.is_aborted():
            log_msg = "Association Aborted"
            if self.acse.is_aborted("a-p-abort"):
                log_msg += " (A-P-ABORT)"
            assoc_log.info(log_msg)
            self.dul.receive_pdu(wait=False)
            self.is_aborted = True
            self.is_established = False
            evt.trigger(self, evt.EVT_ABORTED, {})
            self.kill()
            return

        if not self.dul.is_alive():
            self.kill()
            return

        if self.dul.idle_timer_expired():
            assoc_log.error("Network timeout reached")
            if self.network_timeout_response == "A-RELEASE":
                self._is_paused = True
                self._reactor_checkpoint.wait()
                self.release()
                self._is_paused = False
            else:
                self.abort()
            self.kill()
            return
