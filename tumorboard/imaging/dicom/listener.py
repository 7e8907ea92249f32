"""``tumorboard imaging listen``: the pynetdicom Storage SCP (all storage SOP classes) plus Verification.

Order per instance (success only after durability): pynetdicom receives the dataset in chunks into a temp file
in ``incoming/`` → we parse its header while the file is fsynced → it is renamed to its content address → the
group indexer commits its row together with whatever other associations sent meanwhile, while this thread
fsyncs the folder → 0x0000. Handlers are short; dependencies come in through pynetdicom's handler arguments.
Logs name the partner by id and AE title, never patient data.
"""

from __future__ import annotations

import contextlib
import io
import logging
import mmap
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast
from weakref import WeakKeyDictionary

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID
from pynetdicom import _config, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.transport import AssociationServer
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.clock import Clock
from tumorboard.db import make_session_factory, read_only_engine
from tumorboard.dbfaults import is_busy
from tumorboard.imaging.config import AssociationLimits
from tumorboard.imaging.dicom.dataset import BadDataset, DatasetMismatch, Header, read_header
from tumorboard.imaging.dicom.gate import Gate, ListenerAE, over_limit, raw_socket
from tumorboard.imaging.dicom.reactor import QuietRequestHandler
from tumorboard.imaging.dicom.spool import OutOfSpace, Spool, Stored, digest
from tumorboard.imaging.dicom.workers import Connections, Workers, die_with_parent, serving, temp_prefix
from tumorboard.imaging.index import is_indexed
from tumorboard.imaging.indexer import GroupIndexer, IndexUnavailable
from tumorboard.imaging.reconcile import reconcile_store
from tumorboard.partners.models import Partner
from tumorboard.partners.services import authorize_peer, known_ae_title, partner_networks

log = logging.getLogger(__name__)

LISTENER = Actor.system("dicom-listener")

#: Transfer syntaxes accepted as received (no conversion): the uncompressed ones, deflate, JPEG baseline/
#: extended/lossless, JPEG-LS, JPEG 2000 (incl. HTJ2K), RLE.
TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired, still sent)
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203",  # HTJ2K
    "1.2.840.10008.1.2.5",  # RLE Lossless
]

VERIFICATION = "1.2.840.10008.1.1"
SUCCESS = 0x0000
#: Out of Resources (storage: 0xA7xx).
OUT_OF_RESOURCES = 0xA700
#: Error: cannot understand (0xC000–0xCFFF).
CANNOT_UNDERSTAND = 0xC000
#: Error: Data Set does not match SOP Class — what DCMTK storescp answers when the data set's SOP Class or SOP
#: Instance UID differs from the request's.
DATASET_MISMATCH = 0xA900
#: Processing failure (database unavailable and similar).
PROCESSING_FAILURE = 0x0110

# A-ASSOCIATE-RJ: rejected permanent / transient, by the service user; diagnostics 1 / 3 / 7.
_REJECT_PERMANENT, _REJECT_TRANSIENT, _SERVICE_USER = 0x01, 0x02, 0x01
# … and pynetdicom's own "local limit exceeded": transient, by the service provider (presentation), reason 2.
_LOCAL_LIMIT_EXCEEDED = (0x02, 0x03, 0x02)
_NO_REASON, _CALLING_AE_NOT_RECOGNIZED, _CALLED_AE_NOT_RECOGNIZED = 0x01, 0x03, 0x07
DEFAULT_LIMITS = AssociationLimits()
#: Seconds between two readings of the partner networks the gate keeps room for.
PARTNER_NETWORKS_REFRESH_S = 5.0
#: Seconds the listener waits for its worker processes to be ready before it serves.
WORKERS_READY_S = 30
#: Seconds the audit event of a rejection may wait for a PostgreSQL lock (SQLite: its busy timeout, 10 s).
AUDIT_LOCK_TIMEOUT_S = 10
#: Seconds the start-up rehearsal of the index may take before the listener serves without it.
WARM_UP_TIMEOUT_S = 15
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


@dataclass
class Peer:
    partner_id: int
    partner_name: str
    calling_ae_title: str
    address: str


@dataclass(frozen=True)
class _Rejection:
    reason: str
    result: int
    source: int
    diagnostic: int


class Intake:
    """The state the handlers need: database, clock, spool, our AE title, and the authorized peer of each
    association."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        spool: Spool,
        ae_title: str,
        min_free_bytes: int = 0,
        index_timeout: float = 30.0,
    ) -> None:
        self.min_free_bytes = min_free_bytes
        # Header parsing overlaps the handler's fsync and hash; one worker per likely concurrent association.
        self.workers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dicom-parse")
        self.session_factory = session_factory
        bind = session_factory.kw["bind"]
        # authorization only reads: on SQLite it must not wait for the write lock (a writer holding it, e.g. during
        # a long commit, would otherwise turn every association into a transient rejection)
        self.read_sessions = (
            make_session_factory(read_only_engine(bind)) if isinstance(bind, Engine) else session_factory
        )
        self.indexer = GroupIndexer(session_factory.kw["bind"], actor=LISTENER, timeout=index_timeout)
        self.indexer.start()
        self.clock = clock
        self.spool = spool
        self.ae_title = ae_title
        self.peers: WeakKeyDictionary[Any, Peer] = WeakKeyDictionary()
        self._stopping = threading.Event()

    def warm_up(self) -> None:
        """Before serving: parse two made-up CT instances of a new study and let the indexer index and roll them
        back (:meth:`GroupIndexer.rehearse`), so that what a process does only once — compiling the index's and
        the matching's statements, the parser's first decode — is not done while the first partner after a start
        waits. Best effort: whatever fails is logged and left to the first real study. Nothing is stored."""
        try:
            with self.read_sessions() as session:
                partner_id = session.scalar(select(Partner.id).order_by(Partner.id).limit(1))
            if partner_id is None:
                return  # nobody may send yet
            headers = [_rehearsal_header(n) for n in (1, 2)]
            self.indexer.rehearse(
                headers, partner_id=partner_id, sha256="0" * 64, size=0, calling_ae_title=self.ae_title,
                peer_address="127.0.0.1", at=self.clock.now(),
            ).result(timeout=WARM_UP_TIMEOUT_S)  # fmt: skip
        except Exception as err:
            log.warning("warm-up skipped (%s): the first study compiles what it needs", type(err).__name__)

    # --- association ---------------------------------------------------------------------------------------------
    def check_association(self, assoc: Any) -> bool:
        """Authorize the peer, or reject it. Fails closed: the rejection goes out first and whatever goes wrong
        (the database, the audit write) never lets the association through. Returns whether it was authorized."""
        rq = assoc.requestor.primitive
        calling = _ae(rq.calling_ae_title)
        called = _ae(rq.called_ae_title)
        address = str(assoc.requestor.address)
        try:
            verdict = self._authorize(calling, called, address)
        except Exception:
            log.exception("association from %s (calling %r): authorization failed, rejected", address, calling)
            verdict = _Rejection("authorization failed", _REJECT_TRANSIENT, _SERVICE_USER, _NO_REASON)
        if isinstance(verdict, Peer):
            self.peers[assoc] = verdict
            return True
        try:
            assoc.acse.send_reject(verdict.result, verdict.source, verdict.diagnostic)
        finally:
            assoc.kill()  # as pynetdicom's own rejection does: lets the DUL send the A-ASSOCIATE-RJ before closing
        log.warning(
            "association rejected: %s (calling %r, called %r, from %s)", verdict.reason, calling, called, address
        )
        self._audit_rejection(verdict.reason, calling, called, address)
        return False

    def _authorize(self, calling: str, called: str, address: str) -> Peer | _Rejection:
        with self.read_sessions() as session:
            partner = authorize_peer(session, calling, address)
            if called != self.ae_title:
                return _Rejection(
                    "called AE title not ours", _REJECT_PERMANENT, _SERVICE_USER, _CALLED_AE_NOT_RECOGNIZED
                )
            if partner is None:
                known = known_ae_title(session, calling)
                reason = "address not registered for this AE title" if known else "unknown calling AE title"
                return _Rejection(reason, _REJECT_PERMANENT, _SERVICE_USER, _CALLING_AE_NOT_RECOGNIZED)
            return Peer(partner.id, partner.name, calling, address)

    def _audit_rejection(self, reason: str, calling: str, called: str, address: str) -> None:
        """Best effort, after the peer has its rejection: a locked or unavailable database costs the audit event
        (logged), never the rejection. Waits no longer than the busy timeout (SQLite) or ``lock_timeout``
        (PostgreSQL, where a lock wait is otherwise unbounded)."""
        try:
            with self.session_factory() as session:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(text(f"SET LOCAL lock_timeout = '{AUDIT_LOCK_TIMEOUT_S}s'"))
                record_event(
                    session,
                    actor=LISTENER,
                    tag=Tag.SECURITY_DICOM_REJECT,
                    subject_type=SubjectType.DICOM_ASSOCIATION,
                    subject_id=calling or "-",
                    at=self.clock.now(),
                    after={"calling_ae_title": calling, "called_ae_title": called, "address": address},
                    reason=reason,
                )
                session.commit()
        except Exception:
            log.exception(
                "audit event of a rejected association could not be written (calling %r, from %s)", calling, address
            )

    def refresh_partner_networks(self, gate: Gate) -> None:
        """Tell the gate which addresses registered partners connect from (a failure keeps the last list)."""
        try:
            with self.read_sessions() as session:
                gate.set_partner_networks(partner_networks(session))
        except Exception as err:
            log.warning("partner networks could not be read (%s): the gate keeps the previous ones", type(err).__name__)

    def keep_partner_networks_fresh(self, gate: Gate, interval: float = PARTNER_NETWORKS_REFRESH_S) -> None:
        """Re-read the partner networks every ``interval`` seconds in a daemon thread."""

        def run() -> None:
            while not self._stopping.wait(interval):
                self.refresh_partner_networks(gate)

        threading.Thread(target=run, name="dicom-partner-networks", daemon=True).start()

    # --- C-STORE ---------------------------------------------------------------------------------------------
    def store(self, assoc: Any, request: Any, temp: Path, transfer_syntax: str) -> int:
        peer = self.peers.get(assoc)
        if peer is None:  # cannot happen: unauthorized associations are rejected
            temp.unlink(missing_ok=True)
            return PROCESSING_FAILURE
        if shutil.disk_usage(self.spool.root).free < self.min_free_bytes:
            temp.unlink(missing_ok=True)
            log.error("C-STORE from partner %s: image store below its free-space reserve", peer.partner_id)
            return OUT_OF_RESOURCES
        # What can overlap does; the order that matters is kept. Through a read-only memory map (valid across
        # the rename and, unlike a file object, without a name pydicom could reopen) a worker thread parses the
        # header while this thread fsyncs the file and hashes it (both release the GIL, so the pure-Python
        # parse runs meanwhile). Then the index row is written, the file renamed to its content address and the
        # folder fsynced, and only then does the transaction commit and the sender get its success.
        with open(temp, "rb") as source, _view(source) as view:
            parsing = self.workers.submit(
                read_header,
                view,
                sop_class_uid=str(request.AffectedSOPClassUID or ""),
                sop_instance_uid=str(request.AffectedSOPInstanceUID or ""),
                transfer_syntax_uid=str(transfer_syntax),
            )
            try:
                self.spool.sync(temp)
                received = Received(temp, digest(view), os.fstat(source.fileno()).st_size)
                header = parsing.result()
            except BadDataset as err:
                temp.unlink(missing_ok=True)
                log.warning(
                    "C-STORE refused from partner %s (%s): %s", peer.partner_id, peer.calling_ae_title, err.reason
                )
                return DATASET_MISMATCH if isinstance(err, DatasetMismatch) else CANNOT_UNDERSTAND
            except OutOfSpace:
                log.error("C-STORE from partner %s: image store is full", peer.partner_id)
                return OUT_OF_RESOURCES
            finally:
                _settle(parsing)  # the map closes below: the parser must be done with it
        try:
            self._index(peer, header, received)
        except OutOfSpace:
            log.error("C-STORE from partner %s: image store is full", peer.partner_id)
            return OUT_OF_RESOURCES
        except IndexUnavailable:
            received.discard(self.spool)  # nothing indexed: leave nothing behind
            return OUT_OF_RESOURCES
        except Exception:
            log.exception("C-STORE from partner %s: storing or indexing failed", peer.partner_id)
            received.discard(self.spool)
            return PROCESSING_FAILURE
        return SUCCESS

    def _index(self, peer: Peer, header: Header, received: Received) -> None:
        """Rename the fsynced file to its content address, hand the instance to the group indexer and, while it
        commits, fsync the folder; return only when both are durable. (Should the process die after the commit
        but before the rename reached the disk, the fsynced file is still in ``incoming/`` and the next start
        moves it into place: see :meth:`Spool.prepare`; a rename without a commit is indexed by the start-up
        reconciliation.) A failing rename indexes nothing; a failing commit removes the file it placed; a
        failing folder fsync after the commit leaves row and file as they are and answers with a failure, so
        the sender sends again."""
        stored = received.place(self.spool)  # raises what the rename raised (full disk): nothing indexed
        committed = self.indexer.submit(
            header,
            partner_id=peer.partner_id,
            sha256=received.sha256,
            size=received.size,
            calling_ae_title=peer.calling_ae_title,
            peer_address=peer.address,
            at=self.clock.now(),
        )
        folder_error: OSError | None = None
        try:
            if stored.created:
                self.spool.sync_folder(stored)
        except OSError as err:
            folder_error = err
        committed.result()
        received.committed = True
        if folder_error is not None:
            raise folder_error


#: Seconds between two attempts of the start-up reconciliation while the database stays busy (at most).
RECONCILE_RETRY_MAX_S = 30.0


def _reconcile_when_the_database_lets_us(session_factory: sessionmaker[Session], spool: Spool, clock: Clock) -> Any:
    """The start-up reconciliation (it writes: it needs SQLite's write lock). While another process holds the lock
    past the busy timeout, or PostgreSQL's lock wait gives up, wait and try again — logged, never given up: the
    listener accepts no association before the store and the index agree, and exiting would only make its
    supervisor start it again into the same lock. Any other error ends the start as before."""
    delay = 1.0
    while True:
        try:
            with session_factory() as session:
                reconciled = reconcile_store(session, spool, at=clock.now(), actor=LISTENER)
                session.commit()
            return reconciled
        except OperationalError as err:
            if not is_busy(err):
                raise
            log.warning("database busy: the start-up reconciliation tries again in %.0f s", delay)
            time.sleep(delay)
            delay = min(delay * 2, RECONCILE_RETRY_MAX_S)


def _rehearsal_header(number: int) -> Header:
    """A made-up CT instance's header (two share study and series), read by the listener's parser from bytes."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(CT_IMAGE_STORAGE)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(f"2.25.{number}")
    ds.file_meta.TransferSyntaxUID = UID(EXPLICIT_VR_LITTLE_ENDIAN)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE_STORAGE, f"2.25.{number}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "2.25.0.1", "2.25.0.2"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Probe^Start", "START-PROBE", "20000101", "O"
    ds.AccessionNumber, ds.StudyDate, ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "", "20000101", "CT", 1, number
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return read_header(
        buffer, sop_class_uid=CT_IMAGE_STORAGE, sop_instance_uid=f"2.25.{number}",
        transfer_syntax_uid=EXPLICIT_VR_LITTLE_ENDIAN,
    )  # fmt: skip


@dataclass
class Received:
    """One received object on its way from ``incoming/`` to its content address."""

    temp: Path
    sha256: str
    size: int
    stored: Stored | None = None
    committed: bool = False

    def place(self, spool: Spool) -> Stored:
        if self.stored is None:
            self.stored = spool.move(self.temp, self.sha256, self.size, sync_folder=False)
        return self.stored

    def discard(self, spool: Spool) -> None:
        """Nothing indexed: leave nothing behind (a committed row keeps its file)."""
        self.temp.unlink(missing_ok=True)
        if self.stored is not None and self.stored.created and not self.committed:
            spool.remove(self.stored.relative)


def _settle(future: Future[Any]) -> None:
    """Wait for a worker's step to end, whatever its outcome (the caller is already failing)."""
    with contextlib.suppress(Exception):
        future.result()


def _view(source: BinaryIO) -> mmap.mmap | io.BytesIO:
    if os.fstat(source.fileno()).st_size == 0:
        return io.BytesIO()  # mmap refuses empty files; read_header refuses empty data sets
    return mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ)


def _ae(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").strip()


# --- handlers (short: delegate to Intake) ---------------------------------------------------------------------
def handle_open(event: Any, gate: Gate | Connections) -> None:
    gate.opened(event.assoc)


def handle_requested(event: Any, intake: Intake, gate: Gate | Connections) -> None:
    if over_limit(event.assoc):
        # More than max_associations in all processes together; pynetdicom only counts its own process.
        try:
            event.assoc.acse.send_reject(*_LOCAL_LIMIT_EXCEEDED)
        finally:
            event.assoc.kill()
        log.warning("association from %s rejected: local limit exceeded", event.assoc.requestor.address)
        return
    try:
        authorized = intake.check_association(event.assoc)
    except Exception:
        # pynetdicom would log this and go on to accept: abort the association instead (fail closed).
        log.exception("association check failed: association aborted")
        event.assoc.abort()
        return
    if authorized:
        gate.authorized(event.assoc)
        # which process serves it (tests/imaging/test_workers.py checks that several do)
        log.debug("association of partner %s served by process %d", intake.peers[event.assoc].partner_id,
                  os.getpid())  # fmt: skip


def handle_store(event: Any, intake: Intake) -> int:
    return intake.store(event.assoc, event.request, Path(event.dataset_path), event.context.transfer_syntax)


def handle_echo(event: Any, intake: Intake) -> int:
    # Only an authorized association gets here; checked again should a rejection ever have slipped through.
    return SUCCESS if event.assoc in intake.peers else PROCESSING_FAILURE


def build_ae(ae_title: str, limits: AssociationLimits, gate: Gate | None = None) -> Any:
    ae = ListenerAE(ae_title, gate or Gate(limits))
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(str(cx.abstract_syntax), TRANSFER_SYNTAXES)
    ae.add_supported_context(VERIFICATION, TRANSFER_SYNTAXES[:2])
    # Checked (and audited) by handle_requested first; pynetdicom checks again after it, should the handler
    # ever fail without rejecting.
    ae.require_called_aet = True
    ae.maximum_pdu_size = 0  # unlimited: fewer, larger PDUs
    ae.network_timeout = limits.network_timeout
    ae.dimse_timeout = limits.dimse_timeout
    ae.acse_timeout = limits.acse_timeout
    ae.maximum_associations = limits.max_associations
    return ae


def start_listener(
    session_factory: sessionmaker[Session],
    clock: Clock,
    storage: Path,
    *,
    host: str,
    port: int,
    ae_title: str,
    min_free_bytes: int = 0,
    index_timeout: float = 30.0,
    limits: AssociationLimits = DEFAULT_LIMITS,
    block: bool = True,
    processes: int = 1,
    worker_argv: Callable[[int, int, int], Sequence[str]] | None = None,
) -> Any:
    """Prepare the store (removing temp files a killed process left), reconcile it with the index, and serve.
    Returns the server when ``block`` is False (tests), else runs until interrupted.

    ``processes`` > 1 (only with ``block``): ``processes - 1`` worker processes serve associations too, each
    started with ``worker_argv(number, control_fd, parent_pid)`` (tumorboard/imaging/dicom/workers.py)."""
    spool = Spool(storage)

    def indexed(sha256: str) -> bool:
        with session_factory() as session:
            return is_indexed(session, sha256)

    removed, recovered = spool.prepare(indexed)
    if removed or recovered:
        log.info("temp files of a previous run: %d unfinished removed, %d indexed moved into place", removed, recovered)
    # Before the first association: every object file indexed, every index row with its file.
    reconciled = _reconcile_when_the_database_lets_us(session_factory, spool, clock)
    for relative in reconciled.remove_after_commit:
        spool.remove(relative)
    spool.use_for_temporary_files()
    _configure_pynetdicom()
    intake = Intake(session_factory, clock, spool, ae_title, min_free_bytes, index_timeout)
    intake.warm_up()
    gate = Gate(limits)
    intake.refresh_partner_networks(gate)
    intake.keep_partner_networks_fresh(gate)
    ae = build_ae(ae_title, limits, gate)
    handlers = [
        (evt.EVT_CONN_OPEN, handle_open, [gate]),
        (evt.EVT_REQUESTED, handle_requested, [intake, gate]),
        (evt.EVT_C_STORE, handle_store, [intake]),
        (evt.EVT_C_ECHO, handle_echo, [intake]),
    ]
    log.info(
        "DICOM listener %s on %s:%d, store %s; timeouts network %d s, ACSE %d s, DIMSE %d s; at most %d "
        "associations, %d unauthorized connections (%d per address)",
        ae_title,
        host,
        port,
        storage,
        limits.network_timeout,
        limits.acse_timeout,
        limits.dimse_timeout,
        limits.max_associations,
        limits.max_unauthorized,
        limits.max_unauthorized_per_address,
    )
    if not block:
        return ae.start_server((host, port), block=False, evt_handlers=handlers)
    if processes <= 1 or worker_argv is None:
        try:
            ae.start_server((host, port), block=True, evt_handlers=handlers)
        finally:
            cut_off(ae)
        return None

    def clean_after(number: int) -> None:
        removed, recovered = spool.prepare(indexed, prefix=temp_prefix(number))
        if removed or recovered:
            log.info("temp files of DICOM worker %d: %d unfinished removed, %d indexed moved into place", number,
                     removed, recovered)  # fmt: skip

    workers = Workers(processes - 1, worker_argv, gate, lambda: _acceptors(ae), limits.max_associations,
                      after_death=clean_after)  # fmt: skip
    ae.hand_off = workers.hand_off
    # The workers start only now: the store is prepared and reconciled, and none of them touches incoming/'s
    # leftovers. Connections go to ready workers only; the door waits for them (a second or two of imports) so
    # that work is shared from the first connection on, and serves alone should they not come up.
    workers.start()
    if not workers.wait_ready(WORKERS_READY_S):
        log.error("DICOM workers not ready after %d s: the listener serves alone until they are", WORKERS_READY_S)
    log.info("DICOM listener serves with %d worker processes (pids %s)", processes - 1, workers.pids())
    try:
        ae.start_server((host, port), block=True, evt_handlers=handlers)
    finally:
        cut_off(ae)
        workers.stop()
    return None


def cut_off(ae: Any) -> None:
    """Stopping (SIGTERM, Ctrl-C, the listener gone): shut down the connections of the associations still running,
    as the end of the process would. Their threads outlive the server loop and would otherwise answer the
    instances in flight with an error status once the process tears down what the handlers use (the parse
    workers, the indexer) — a status a sender takes as final — where a cut-off connection is sent again."""
    for assoc in ae.active_associations:
        sock = raw_socket(assoc)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _acceptors(ae: Any) -> int:
    return sum(1 for assoc in ae.active_associations if assoc.is_acceptor and serving(assoc))


def _configure_pynetdicom() -> None:
    _config.STORE_RECV_CHUNKED_DATASET = True  # large objects go to disk, not RAM
    _config.LOG_HANDLER_LEVEL = "none"  # pynetdicom's standard handlers would log dataset details
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)


def serve_worker(
    control: socket.socket,
    session_factory: sessionmaker[Session],
    clock: Clock,
    storage: Path,
    *,
    number: int,
    parent: int,
    host: str,
    port: int,
    ae_title: str,
    min_free_bytes: int = 0,
    index_timeout: float = 30.0,
    limits: AssociationLimits = DEFAULT_LIMITS,
) -> None:
    """A worker process (``tumorboard imaging worker``): serve the connections the listener hands over on
    ``control`` with the same handlers, until the listener is gone. The listener has prepared the store; a
    worker never touches other processes' temp files."""
    die_with_parent(parent)
    spool = Spool(storage)
    spool.use_for_temporary_files()
    tempfile.template = temp_prefix(number)  # its temp files, for the listener to remove should it die
    _configure_pynetdicom()
    intake = Intake(session_factory, clock, spool, ae_title, min_free_bytes, index_timeout)
    intake.warm_up()
    connections = Connections(control)
    ae = build_ae(ae_title, limits)
    handlers: list[Any] = [
        (evt.EVT_CONN_OPEN, handle_open, [connections]),
        (evt.EVT_REQUESTED, handle_requested, [intake, connections]),
        (evt.EVT_C_STORE, handle_store, [intake]),
        (evt.EVT_C_ECHO, handle_echo, [intake]),
    ]
    server = HandedServer(ae, (host, port), ae_title, ae.supported_contexts, evt_handlers=handlers,
                          request_handler=QuietRequestHandler)  # fmt: skip
    connections.watch()
    connections.ready()
    log.info("DICOM worker %d ready (pid %d)", number, os.getpid())
    try:
        while (received := connections.receive()) is not None:
            connection, client_address = received
            connection.guarded.settimeout(limits.network_timeout)
            # pynetdicom uses recv/send/shutdown/close/fileno of what it gets: the proxy has them all.
            request = cast(socket.socket, connection.guarded)
            try:
                server.finish_request(request, client_address)
            except Exception:
                log.exception("DICOM worker %d: a connection could not be served", number)
                server.shutdown_request(request)
                connections.failed(connection)
            else:
                log.debug("association from %s in worker %d", client_address[0], number)
        log.info("DICOM worker %d: the listener is gone, exiting", number)
    finally:
        cut_off(ae)
    intake.indexer.stop()


class HandedServer(AssociationServer):
    """pynetdicom's association server without a socket of its own: a worker serves the connections the
    listener hands over (``finish_request``); ``server_address`` is the listener's."""

    def server_bind(self) -> None:
        pass  # never bound: only the listener holds the listening socket

    def server_activate(self) -> None:
        if self.socket is not None:
            self.socket.close()
