"""The mail intake: a fetched mail becomes durable raw bytes, then indexed DICOM objects — through the same
ingest core as C-STORE (header validation, the content-addressed image store, the group indexer with its
deduplication on SOP Instance UID + SHA-256, completeness after the partner's quiet period, matching).

Order per mail (nothing is lost at any crash point): raw message → temp file, fsync, rename into
``mail/raw/`` → row ``received`` committed → (partial? wait for its set) → sender → partner → decrypt and verify
against the pinned key → MIME parts → every object's header validated (one bad object refuses the mail before
anything is stored) → objects stored and indexed, each durable → row ``processed`` (or ``quarantined`` with its
reason) committed. Only then may the poller move the mail on the server and send the receipt. A crash before
the last commit leaves the row ``received``: the next run processes it again, and the index's deduplication
makes that harmless. Logs carry row ids and partner ids, never patient data or mail subjects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import tempfile
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from email.message import Message
from email.utils import parseaddr
from pathlib import Path

from pydicom import dcmread
from pydicom.filereader import _read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.dsutils import create_file_meta
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.clock import Clock
from tumorboard.imaging.dicom.dataset import BadDataset, Header, clean_uid, read_header, valid_uid
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.indexer import GroupIndexer, write_locking_engine
from tumorboard.imaging.mail.config import MailSettings
from tumorboard.imaging.mail.mime import (
    QuarantineReason,
    Refused,
    extract,
    parse,
    partial_expired,
    partial_of,
    reassemble,
)
from tumorboard.imaging.mail.models import MailMessage, MailState
from tumorboard.imaging.mail.pgp import Keyring, Opened
from tumorboard.imaging.mail.quiet import MAIL_PEER
from tumorboard.partners.models import Partner
from tumorboard.partners.services import find_mail_sender

log = logging.getLogger(__name__)

MAIL_INTAKE = Actor.system("mail-intake")
#: What the index records as the "calling AE title" and "peer address" of an instance that came by mail.
MAIL_AE_TITLE = "MAIL"


class RawStore:
    """The fetched mails as received, content-addressed: ``<root>/ab/<sha256>.eml``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / "incoming"

    def save(self, raw: bytes) -> str:
        """Make ``raw`` durable (temp file, fsync, rename, fsync of the folder); returns its SHA-256."""
        sha256 = hashlib.sha256(raw).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256
        self.incoming.mkdir(parents=True, exist_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.incoming, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(name, target)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return sha256

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.eml"

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()


@dataclass(frozen=True)
class Object:
    header: Header
    data: bytes


def canonical_object(data: bytes) -> Object:
    """A PS3.10 object from a mail in the form the listener stores a C-STORE object (128 zero bytes, ``DICM``,
        the file meta pynetdicom writes for the SOP class, instance and transfer syntax, then the sender's data set
        bytes unchanged), with its index header. The same instance therefore has the same bytes and the same
        content address whichever door it came through, and the index stores it once; the sender's own file meta
        (its implementation UID) is no more kept than a C-STORE peer's. An object without file meta (a bare data set,
    as old archives hold them) is taken as a C-STORE would carry it: SOP class and instance from the data set, the
    transfer syntax the one its encoding shows (issue 12)."""
    if data[128:132] != b"DICM":
        sop_class, sop_instance, syntax = _bare_data_set(data)
        start = 0
    else:
        try:
            buffer = io.BytesIO(data)
            buffer.seek(132)
            meta = _read_file_meta_info(buffer)
            start = buffer.tell()
        except Exception as err:
            raise BadDataset(f"unreadable file meta ({type(err).__name__})") from None
        sop_class = str(meta.get("MediaStorageSOPClassUID", ""))
        sop_instance = str(meta.get("MediaStorageSOPInstanceUID", ""))
        syntax = str(meta.get("TransferSyntaxUID", ""))
    # The SOP instance UID need not be usable: read_header gives such an instance a server-generated key (issue 12).
    for uid in (sop_class, syntax):
        if not valid_uid(uid):
            raise BadDataset("invalid UID in the file meta")
    out = io.BytesIO()
    out.write(b"\0" * 128 + b"DICM")
    try:
        write_file_meta_info(
            out,  # type: ignore[arg-type]
            create_file_meta(
                sop_class_uid=UID(sop_class), sop_instance_uid=UID(sop_instance), transfer_syntax=UID(syntax)
            ),
        )
    except Exception as err:  # a SOP Instance UID that cannot even be written back
        raise BadDataset(f"unwritable file meta ({type(err).__name__})") from None
    out.write(memoryview(data)[start:])
    canonical = out.getvalue()
    header = read_header(
        io.BytesIO(canonical), sop_class_uid=sop_class, sop_instance_uid=sop_instance, transfer_syntax_uid=syntax
    )
    return Object(header, canonical)


def _bare_data_set(data: bytes) -> tuple[str, str, str]:
    """SOP class, SOP instance and transfer syntax of a data set without file meta; pydicom tells implicit from
    explicit VR (little endian: big endian without a file meta is not readable with certainty)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns that the file meta is missing: we know
            ds = dcmread(io.BytesIO(data), force=True, stop_before_pixels=True, specific_tags=_BARE_TAGS)
            sop_class, sop_instance = (clean_uid(str(ds.get(k) or "")) for k in ("SOPClassUID", "SOPInstanceUID"))
    except Exception as err:
        raise BadDataset(f"unreadable data set without file meta ({type(err).__name__})") from None
    implicit, little_endian = ds.original_encoding
    if not little_endian:
        raise BadDataset("data set without file meta in big endian")
    return sop_class, sop_instance, str(ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian)


_BARE_TAGS = ["SOPClassUID", "SOPInstanceUID"]


class MailIntake:
    """Turns fetched mails into indexed objects; shared by the poller and the quarantine's release."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        spool: Spool,
        settings: MailSettings,
        *,
        index_timeout: float = 30.0,
    ) -> None:
        # On SQLite every intake transaction takes the write lock when it begins (BEGIN IMMEDIATE, as the group
        # indexer does): one that read first and wrote after a concurrent commit (the listener's, or our own
        # indexer's) would fail at once with "database is locked" instead of waiting its turn.
        bind = session_factory.kw["bind"]
        self._engine = write_locking_engine(bind)
        self._own_engine = self._engine is not bind
        self.session_factory: sessionmaker[Session] = sessionmaker(
            **{**session_factory.kw, "bind": self._engine, "expire_on_commit": False}
        )
        self.clock = clock
        self.spool = spool
        self.settings = settings
        self.raw = RawStore(settings.raw_path)
        self.keyring = Keyring(settings.gnupg_home)
        self.indexer = GroupIndexer(session_factory.kw["bind"], actor=MAIL_INTAKE, timeout=index_timeout)
        self.indexer.start()
        spool.create_folders()

    def close(self) -> None:
        self.indexer.stop()
        if self._own_engine:
            self._engine.dispose()

    # --- receiving ---------------------------------------------------------------------------------------------
    def known_uids(self, mailbox: str, uidvalidity: int) -> set[int]:
        with self.session_factory() as session:
            return set(
                session.scalars(
                    select(MailMessage.uid).where(
                        MailMessage.mailbox == mailbox, MailMessage.uidvalidity == uidvalidity
                    )
                )
            )

    def receive(self, mailbox: str, uidvalidity: int, uid: int, raw: bytes) -> int:
        """Store the raw mail durably and record it (``received``); returns the row id. Idempotent per
        (mailbox, UIDVALIDITY, UID)."""
        with self.session_factory() as session:
            existing = session.scalar(
                select(MailMessage.id).where(
                    MailMessage.mailbox == mailbox, MailMessage.uidvalidity == uidvalidity, MailMessage.uid == uid
                )
            )
            if existing is not None:
                return existing
            sha256 = self.raw.save(raw)
            message = parse(raw)
            message_id = " ".join(str(message.get("Message-ID", "") or "").split())[:500] or None
            row = MailMessage(
                mailbox=mailbox,
                uidvalidity=uidvalidity,
                uid=uid,
                sha256=sha256,
                size=len(raw),
                message_id=message_id,
                sender=_address(message),
                state=MailState.RECEIVED,
                detail="",
                object_count=0,
                received_at=self.clock.now(),
            )
            session.add(row)
            session.flush()
            record_event(
                session,
                actor=MAIL_INTAKE,
                tag=Tag.IMAGING_MAIL_RECEIVE,
                subject_type=SubjectType.MAIL_MESSAGE,
                subject_id=row.id,
                at=row.received_at,
                after={"mailbox": mailbox, "uid": uid, "sha256": sha256, "size": len(raw)},
            )
            session.commit()
            return row.id

    def pending(self) -> list[int]:
        """Rows received but not yet processed (a crash, or a database that was unavailable), and quarantined
        mails a coordinator released."""
        with self.session_factory() as session:
            return list(
                session.scalars(
                    select(MailMessage.id)
                    .where(MailMessage.state.in_([MailState.RECEIVED, MailState.RELEASED]))
                    .order_by(MailMessage.id)
                )
            )

    # --- processing ---------------------------------------------------------------------------------------------
    def process(self, mail_id: int, *, partner_id: int | None = None) -> MailState:
        """Process one received mail (``partner_id``: a coordinator's release with a chosen partner)."""
        with self.session_factory() as session:
            row = session.get(MailMessage, mail_id)
            assert row is not None
            if row.state not in (MailState.RECEIVED, MailState.RELEASED):
                return row.state
            if row.state is MailState.RELEASED:
                partner_id = row.partner_id
            raw = self.raw.read(row.sha256)
            try:
                message = parse(raw)
                fragment = partial_of(raw, message)
            except Refused as refused:
                return self._finish(session, [row], refused=refused)
            except Exception:
                return self._finish(session, [row], refused=Refused(QuarantineReason.MALFORMED))
            if fragment is not None:
                row.partial_id = f"{row.sender} {fragment.id}"[:500]
                row.partial_number = fragment.number
                row.partial_total = fragment.total
                row.state = MailState.WAITING
                session.flush()
                fragments = self._fragments(session, row.partial_id)
                total = next((f.partial_total for f in fragments if f.partial_total), None)
                numbers = {f.partial_number for f in fragments}
                if total is None or not all(n in numbers for n in range(1, total + 1)):
                    session.commit()
                    return MailState.WAITING
                bodies = {}
                for f in fragments:
                    assert f.partial_number is not None
                    fraw = self.raw.read(f.sha256)
                    piece = partial_of(fraw, parse(fraw))
                    assert piece is not None
                    bodies[f.partial_number] = piece.body
                try:
                    whole = reassemble(bodies, total)
                except Refused as refused:
                    return self._finish(session, fragments, refused=refused)
                return self._ingest(session, fragments, parse(whole), partner_id)
            return self._ingest(session, [row], message, partner_id)

    def expire_partials(self) -> int:
        """Sets incomplete after the partial timeout go to quarantine; returns how many mails."""
        timeout = dt.timedelta(seconds=self.settings.partial_timeout_s)
        now = self.clock.now()
        expired = 0
        with self.session_factory() as session:
            waiting = session.scalars(select(MailMessage).where(MailMessage.state == MailState.WAITING)).all()
            sets: dict[str, list[MailMessage]] = {}
            for row in waiting:
                sets.setdefault(row.partial_id or "", []).append(row)
            for rows in sets.values():
                if partial_expired(min(r.received_at for r in rows), now, timeout):
                    self._finish(session, rows, refused=Refused(QuarantineReason.INCOMPLETE_PARTIAL))
                    expired += len(rows)
        return expired

    def _fragments(self, session: Session, partial_id: str) -> list[MailMessage]:
        return list(
            session.scalars(
                select(MailMessage)
                .where(MailMessage.partial_id == partial_id, MailMessage.state == MailState.WAITING)
                .order_by(MailMessage.partial_number, MailMessage.id)
            )
        )

    def _ingest(self, session: Session, rows: list[MailMessage], message: Message, partner_id: int | None) -> MailState:
        sender = _address(message) or rows[0].sender
        try:
            if partner_id is None:
                registered = find_mail_sender(session, sender)
                if registered is None:
                    raise Refused(QuarantineReason.UNKNOWN_SENDER, sender)
                partner_id, pins = registered.partner_id, [registered.pgp_fingerprint]
            else:  # released by a coordinator for this partner: any of its pinned keys
                partner = session.get(Partner, partner_id)
                pins = [s.pgp_fingerprint for s in partner.mail_senders] if partner is not None else []
                if not pins:
                    raise Refused(QuarantineReason.UNKNOWN_SENDER, sender)
            # Decrypting and reading the parts take the longest: no transaction (on SQLite: no write lock) open
            # meanwhile, so that other workers and the listener go on (expire_on_commit is off: the rows stay
            # loaded).
            session.commit()
            opened = self._open(message, pins)
            found = extract(parse(opened.content), self.settings.zip_limits)
            objects = []
            for data in found.objects:
                try:
                    objects.append(canonical_object(data))
                except BadDataset as err:
                    raise Refused(QuarantineReason.BAD_DICOM, err.reason) from None
        except Refused as refused:
            return self._finish(session, rows, refused=refused)
        partner_id_ = partner_id
        for row in rows:
            row.partner_id = partner_id_
        # End this transaction before the indexer writes: on SQLite a read transaction begun before the
        # indexer's commit could not write afterwards (its snapshot is stale), and on PostgreSQL the rows would
        # stay locked meanwhile.
        session.commit()
        self._store(objects, partner_id_)
        if found.documents:
            # Attaching documents to the matched case needs the case documents of another branch; until then
            # they are counted (and stay in the raw mail).
            rows[0].detail = f"{len(found.documents)} weitere Anhänge"
        return self._finish(session, rows, objects=len(objects))

    def _open(self, message: Message, pins: list[str]) -> Opened:
        refused = Refused(QuarantineReason.WRONG_KEY)
        for pin in pins:
            try:
                return self.keyring.open(message, pinned=pin)
            except Refused as err:
                if err.reason is not QuarantineReason.WRONG_KEY:
                    raise
                refused = err
        raise refused

    def _store(self, objects: list[Object], partner_id: int) -> None:
        """Each object durable in the image store, then indexed by the group indexer (as C-STORE's are)."""
        at = self.clock.now()
        waiting: list[Future[None]] = []
        for obj in objects:
            temp = self.spool.write_temp(obj.data)
            stored = self.spool.place(temp)
            waiting.append(
                self.indexer.submit(
                    obj.header,
                    partner_id=partner_id,
                    sha256=stored.sha256,
                    size=stored.size,
                    calling_ae_title=MAIL_AE_TITLE,
                    peer_address=MAIL_PEER,
                    at=at,
                )
            )
        for future in waiting:
            future.result()  # raises what indexing raised: the mail stays "received" and is processed again

    def _finish(
        self,
        session: Session,
        rows: list[MailMessage],
        *,
        refused: Refused | None = None,
        objects: int = 0,
    ) -> MailState:
        now = self.clock.now()
        state = MailState.QUARANTINED if refused else MailState.PROCESSED
        for row in rows:
            row.state = state
            row.processed_at = now
            if refused is not None:
                row.reason = refused.reason
                row.detail = refused.detail[:500]
        rows[0].object_count = objects
        session.flush()
        for row in rows:
            record_event(
                session,
                actor=MAIL_INTAKE,
                tag=Tag.IMAGING_MAIL_QUARANTINE if refused else Tag.IMAGING_MAIL_PROCESS,
                subject_type=SubjectType.MAIL_MESSAGE,
                subject_id=row.id,
                at=now,
                after={"objects": objects if row is rows[0] else 0, "partner_id": row.partner_id},
                reason=refused.reason.value if refused else None,
            )
        session.commit()
        if refused is not None:
            log.warning("mail %s quarantined: %s", [r.id for r in rows], refused.reason.value)
        return state


def _address(message: Message) -> str:
    return parseaddr(str(message.get("From", "") or ""))[1].strip().lower()[:254]
