"""``tumorboard imaging listen``: the pynetdicom Storage SCP (all storage SOP classes) plus Verification.

Order per instance (success only after durability): pynetdicom receives the dataset in chunks into a temp file
in ``incoming/`` → we parse its header → fsync and rename it to its content address → commit the index row →
return 0x0000. Handlers are short; dependencies come in through pynetdicom's handler arguments.
Logs name the partner by id and AE title, never patient data.
"""

from __future__ import annotations

import io
import logging
import mmap
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from weakref import WeakKeyDictionary

from pynetdicom import AE, _config, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tumorboard.audit.services import record_event
from tumorboard.auth.actors import Actor
from tumorboard.clock import Clock
from tumorboard.imaging.dicom.dataset import BadDataset, read_header
from tumorboard.imaging.dicom.spool import OutOfSpace, Spool, Stored
from tumorboard.imaging.services import ingest_instance
from tumorboard.partners.services import authorize_peer, known_ae_title

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
#: Error: Data Set does not match SOP Class / cannot understand (0xC000–0xCFFF).
CANNOT_UNDERSTAND = 0xC000
#: Processing failure (database unavailable and similar).
PROCESSING_FAILURE = 0x0110

# A-ASSOCIATE-RJ: rejected permanent, by the service user; diagnostics 3 / 7.
_REJECT_PERMANENT, _SERVICE_USER = 0x01, 0x01
_CALLING_AE_NOT_RECOGNIZED, _CALLED_AE_NOT_RECOGNIZED = 0x03, 0x07


@dataclass
class Peer:
    partner_id: int
    partner_name: str
    calling_ae_title: str
    address: str


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
    ) -> None:
        self.min_free_bytes = min_free_bytes
        self.placer = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dicom-place")
        self.session_factory = session_factory
        self.clock = clock
        self.spool = spool
        self.ae_title = ae_title
        self.peers: WeakKeyDictionary[Any, Peer] = WeakKeyDictionary()

    # --- association -----------------------------------------------------------------------------------------
    def check_association(self, assoc: Any) -> None:
        rq = assoc.requestor.primitive
        calling = _ae(rq.calling_ae_title)
        called = _ae(rq.called_ae_title)
        address = str(assoc.requestor.address)
        with self.session_factory() as session:
            partner = authorize_peer(session, calling, address)
            if called != self.ae_title:
                reason, diagnostic = "called AE title not ours", _CALLED_AE_NOT_RECOGNIZED
            elif partner is None:
                reason = (
                    "address not registered for this AE title"
                    if known_ae_title(session, calling)
                    else ("unknown calling AE title")
                )
                diagnostic = _CALLING_AE_NOT_RECOGNIZED
            else:
                self.peers[assoc] = Peer(partner.id, partner.name, calling, address)
                return
            record_event(
                session,
                actor=LISTENER,
                tag="security:dicom:reject",
                subject_type="dicom_association",
                subject_id=calling or "-",
                at=self.clock.now(),
                after={"calling_ae_title": calling, "called_ae_title": called, "address": address},
                reason=reason,
            )
            session.commit()
        log.warning("association rejected: %s (calling %r, called %r, from %s)", reason, calling, called, address)
        assoc.acse.send_reject(_REJECT_PERMANENT, _SERVICE_USER, diagnostic)
        assoc.kill()  # as pynetdicom's own rejection does: lets the DUL send the A-ASSOCIATE-RJ before closing

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
        # The file is hashed, fsynced and renamed in a worker thread (those calls release the GIL) while this
        # thread parses the header through a read-only memory map opened before: it stays valid across the
        # rename, and unlike a file object it has no name pydicom could reopen. The index row is committed only
        # after both are done.
        with open(temp, "rb") as source, _view(source) as view:
            placing = self.placer.submit(self.spool.place, temp)
            try:
                header = read_header(
                    view,
                    sop_class_uid=str(request.AffectedSOPClassUID or ""),
                    sop_instance_uid=str(request.AffectedSOPInstanceUID or ""),
                    transfer_syntax_uid=str(transfer_syntax),
                )
            except BadDataset as err:
                self._discard(placing)
                log.warning(
                    "C-STORE refused from partner %s (%s): %s", peer.partner_id, peer.calling_ae_title, err.reason
                )
                return CANNOT_UNDERSTAND
        try:
            stored = placing.result()
        except OutOfSpace:
            log.error("C-STORE from partner %s: image store is full", peer.partner_id)
            return OUT_OF_RESOURCES
        try:
            self._index(peer, header, stored.sha256, stored.size)
        except Exception as err:
            log.exception("C-STORE from partner %s: indexing failed", peer.partner_id)
            if stored.created:
                self.spool.remove(stored.relative)  # nothing indexed: leave nothing behind
            return OUT_OF_RESOURCES if isinstance(err, OperationalError) else PROCESSING_FAILURE
        return SUCCESS

    def _discard(self, placing: Future[Stored]) -> None:
        try:
            stored = placing.result()
        except (OSError, OutOfSpace):
            return  # nothing was placed (the temp file is already gone)
        if stored.created:
            self.spool.remove(stored.relative)

    def _index(self, peer: Peer, header: Any, sha256: str, size: int) -> None:
        for attempt in range(3):
            with self.session_factory() as session:
                try:
                    ingest_instance(
                        session,
                        header,
                        sha256=sha256,
                        size=size,
                        partner_id=peer.partner_id,
                        calling_ae_title=peer.calling_ae_title,
                        peer_address=peer.address,
                        at=self.clock.now(),
                        actor=LISTENER,
                    )
                    session.commit()
                    return
                except IntegrityError:
                    # Another association created the same study/series/instance at the same moment: retry,
                    # the second attempt finds the row.
                    session.rollback()
                    if attempt == 2:
                        raise


def _view(source: BinaryIO) -> mmap.mmap | io.BytesIO:
    if os.fstat(source.fileno()).st_size == 0:
        return io.BytesIO()  # mmap refuses empty files; read_header refuses empty data sets
    return mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ)


def _ae(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").strip()


# --- handlers (short: delegate to Intake) ---------------------------------------------------------------------
def handle_requested(event: Any, intake: Intake) -> None:
    intake.check_association(event.assoc)


def handle_store(event: Any, intake: Intake) -> int:
    return intake.store(event.assoc, event.request, Path(event.dataset_path), event.context.transfer_syntax)


def handle_echo(event: Any) -> int:
    return SUCCESS


def build_ae(ae_title: str) -> Any:
    ae = AE(ae_title=ae_title)
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(str(cx.abstract_syntax), TRANSFER_SYNTAXES)
    ae.add_supported_context(VERIFICATION, TRANSFER_SYNTAXES[:2])
    ae.require_called_aet = False  # checked (and audited) by handle_requested
    ae.maximum_pdu_size = 0  # unlimited: fewer, larger PDUs
    ae.network_timeout = 60
    ae.dimse_timeout = 60
    ae.acse_timeout = 30
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
    block: bool = True,
) -> Any:
    """Prepare the store (removing temp files a killed process left) and serve. Returns the server when
    ``block`` is False (tests), else runs until interrupted."""
    spool = Spool(storage)
    removed = spool.prepare()
    if removed:
        log.info("removed %d unfinished temp files from a previous run", removed)
    spool.use_for_temporary_files()
    _config.STORE_RECV_CHUNKED_DATASET = True  # large objects go to disk, not RAM
    _config.LOG_HANDLER_LEVEL = "none"  # pynetdicom's standard handlers would log dataset details
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    intake = Intake(session_factory, clock, spool, ae_title, min_free_bytes)
    ae = build_ae(ae_title)
    handlers = [
        (evt.EVT_REQUESTED, handle_requested, [intake]),
        (evt.EVT_C_STORE, handle_store, [intake]),
        (evt.EVT_C_ECHO, handle_echo),
    ]
    log.info("DICOM listener %s on %s:%d, store %s", ae_title, host, port, storage)
    return ae.start_server((host, port), block=block, evt_handlers=handlers)
