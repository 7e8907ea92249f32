"""``tumorboard mail poll``: fetch DICOM E-Mails over IMAP (imapclient), hand them to the intake, then move each
to the Processed or Quarantine folder and send its receipt. Nothing is deleted on the server; a mail is moved
only after its row says processed or quarantined (committed), so a crash anywhere re-reads it at most.

UIDs are remembered per (mailbox, UIDVALIDITY): a changed UIDVALIDITY makes every mail in the folder new again;
the raw store and the index deduplicate what was already taken. IDLE (RFC 2177) when the server offers it,
otherwise the configured interval.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tumorboard.clock import Clock
from tumorboard.imaging.mail.config import Mailbox, MailSettings
from tumorboard.imaging.mail.intake import MailIntake
from tumorboard.imaging.mail.mdn import send_receipts
from tumorboard.imaging.mail.mime import read_headers
from tumorboard.imaging.mail.models import MailMessage, MailState

log = logging.getLogger(__name__)

#: Mails fetched per FETCH command, and the most bytes one FETCH may bring (what imaplib holds in memory).
FETCH_BATCH = 20
FETCH_BYTES = 8 * 1024 * 1024
#: A mail larger than this is fetched in slices of this size (RFC 3501 partial FETCH, BODY.PEEK[]<offset.size>)
#: and written to disk slice by slice: a 50 MB mail never sits in the poller's memory whole.
SLICE = 4 * 1024 * 1024
#: Mails processed at once (decrypting, hashing, storing).
WORKERS = 4


def connect(box: Mailbox, settings: MailSettings) -> IMAPClient:
    context = ssl.create_default_context(cafile=str(settings.cafile) if settings.cafile else None)
    client = IMAPClient(box.host, port=box.port, ssl=box.security == "tls", ssl_context=context, timeout=60)
    try:
        if box.security == "starttls":
            client.starttls(context)
        client.login(box.user, box.password)
        for folder in (settings.processed_folder, settings.quarantine_folder):
            if not client.folder_exists(folder):
                client.create_folder(folder)
    except BaseException:
        client.shutdown()  # a refused login must not leave the socket open
        raise
    return client


def poll_once(client: IMAPClient, box: Mailbox, intake: MailIntake, settings: MailSettings) -> int:
    """One pass over the mailbox; returns how many new mails were taken."""
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="mail-intake") as workers:
        return _poll_once(client, box, intake, settings, workers)


def _looks_partial(path: Path) -> bool:
    try:
        return read_headers(path).get_content_type() == "message/partial"
    except Exception:  # unreadable headers: processed (and quarantined) like any whole mail
        return False


def _batches(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    """Consecutive groups of mails to fetch with one FETCH: at most FETCH_BATCH mails and FETCH_BYTES bytes; a
    mail over SLICE alone (it is fetched in slices)."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= FETCH_BATCH or total + size > FETCH_BYTES or size > SLICE):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
        if size > SLICE:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


def _slices(client: IMAPClient, uid: int) -> Iterator[bytes]:
    """The mail ``uid`` in slices of SLICE bytes, each fetched when the previous one is written."""
    offset = 0
    while True:
        response = client.fetch([uid], [f"BODY.PEEK[]<{offset}.{SLICE}>"]).get(uid, {})
        data = next((v for k, v in response.items() if isinstance(k, bytes) and k.startswith(b"BODY[]")), None)
        if not isinstance(data, bytes):
            raise _Gone  # moved away by another client meanwhile: nothing of it is kept
        if data:
            yield data
        if len(data) < SLICE:
            return
        offset += len(data)


class _Gone(Exception):
    """The mail disappeared from the folder between SEARCH and FETCH (another client moved it)."""


def _poll_once(
    client: IMAPClient, box: Mailbox, intake: MailIntake, settings: MailSettings, workers: ThreadPoolExecutor
) -> int:
    info = client.select_folder(box.folder)
    uidvalidity = int(info[b"UIDVALIDITY"])
    for mail_id in intake.pending():  # left "received" by a crash or an unavailable database
        intake.process(mail_id)
    known = intake.known_uids(box.name, uidvalidity)
    new = [uid for uid in client.search("ALL") if uid not in known]
    sizes = {
        uid: int(data.get(b"RFC822.SIZE", 0))
        for uid, data in (client.fetch(new, ["RFC822.SIZE"]) if new else {}).items()
    }
    new = [uid for uid in new if uid in sizes]
    for batch in _batches(new, sizes):
        whole: list[int] = []
        fragments: list[int] = []
        if len(batch) == 1 and sizes[batch[0]] > SLICE:
            try:
                received = [(batch[0], intake.receive(box.name, uidvalidity, batch[0], _slices(client, batch[0])))]
            except _Gone:
                received = []
        else:
            fetched = client.fetch(batch, ["BODY.PEEK[]"])
            received = []
            for uid in batch:
                data = fetched.get(uid, {}).get(b"BODY[]")
                if isinstance(data, bytes):  # else gone meanwhile (another client moved it)
                    received.append((uid, intake.receive(box.name, uidvalidity, uid, data)))
            del fetched
        for _, mail_id in received:
            (fragments if _looks_partial(intake.raw_path(mail_id)) else whole).append(mail_id)
        # Whole mails in parallel (GnuPG runs as a subprocess, fsyncs release the GIL, and the group indexer
        # commits what the workers hand it together); fragments one after the other, so that the last one of a
        # set always sees the others.
        list(workers.map(intake.process, whole))
        for mail_id in fragments:
            intake.process(mail_id)
        _move_done(client, box, intake.session_factory, settings, uidvalidity)
        send_receipts(intake.session_factory, intake.clock, settings, intake.raw)
    intake.expire_partials()
    _move_done(client, box, intake.session_factory, settings, uidvalidity)
    send_receipts(intake.session_factory, intake.clock, settings, intake.raw)
    return len(new)


def _move_done(
    client: IMAPClient,
    box: Mailbox,
    session_factory: sessionmaker[Session],
    settings: MailSettings,
    uidvalidity: int,
) -> None:
    targets = {MailState.PROCESSED: settings.processed_folder, MailState.QUARANTINED: settings.quarantine_folder}
    with session_factory() as session:
        rows = session.scalars(
            select(MailMessage).where(
                MailMessage.mailbox == box.name,
                MailMessage.uidvalidity == uidvalidity,
                MailMessage.moved_to.is_(None),
                MailMessage.state.in_(list(targets)),
            )
        ).all()
        for state, folder in targets.items():
            uids = [r.uid for r in rows if r.state == state]
            if not uids:
                continue
            _move(client, uids, folder)
            for row in rows:
                if row.state == state:
                    row.moved_to = folder
        session.commit()


def _move(client: IMAPClient, uids: Iterable[int], folder: str) -> None:
    uids = list(uids)
    if client.has_capability("MOVE"):
        client.move(uids, folder)
    else:  # RFC 3501 only: copy, then flag (never expunge: nothing is deleted before it is safe elsewhere)
        client.copy(uids, folder)
        client.add_flags(uids, [b"\\Deleted"])


def run_poller(
    session_factory: sessionmaker[Session],
    clock: Clock,
    intake: MailIntake,
    settings: MailSettings,
    *,
    once: bool = False,
    stop: threading.Event | None = None,
) -> None:
    """Poll every configured mailbox until ``stop`` is set (or once). A mailbox that cannot be reached, or a
    pass that fails, is logged and retried after the interval with a new connection; the other mailboxes and
    the process go on (this loop is the process boundary)."""
    stop = stop or threading.Event()
    clients: dict[str, IMAPClient] = {}
    try:
        while True:
            for box in settings.mailboxes:
                try:
                    if box.name not in clients:
                        clients[box.name] = connect(box, settings)
                    taken = poll_once(clients[box.name], box, intake, settings)
                except Exception:
                    log.exception("mailbox %s: poll failed; retried in %d s", box.name, settings.interval_s)
                    _drop(clients.pop(box.name, None))
                    continue
                if taken:
                    log.info("mailbox %s: %d new mails", box.name, taken)
            if once or stop.is_set():
                return
            only = clients.get(settings.mailboxes[0].name) if len(settings.mailboxes) == 1 else None
            if only is not None and only.has_capability("IDLE"):
                try:
                    only.idle()
                    try:
                        only.idle_check(timeout=settings.interval_s)
                    finally:
                        only.idle_done()
                except Exception:
                    log.exception("mailbox %s: IDLE failed; reconnecting", settings.mailboxes[0].name)
                    _drop(clients.pop(settings.mailboxes[0].name, None))
                    stop.wait(settings.interval_s)
            else:
                stop.wait(settings.interval_s)
            if stop.is_set():
                return
    finally:
        for client in clients.values():
            _drop(client)


def _drop(client: IMAPClient | None) -> None:
    if client is None:
        return
    try:
        client.logout()
    except Exception:  # the connection may be gone already; nothing to do about it
        log.debug("logout failed", exc_info=True)
