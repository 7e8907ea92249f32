"""DICOM E-Mail: which MIME parts of a (decrypted) mail carry DICOM objects, and message/partial reassembly.

Pure functions on bytes and :mod:`email` objects; no I/O, no database. What the network sends (see
shared/domain/dicom.md): ``application/dicom`` parts (RFC 3240), ``application/octet-stream`` parts whose bytes
carry the ``DICM`` preamble, a ``DICOM.ZIP`` attachment (PS3.11 Annex L), in ``multipart/mixed`` or
``multipart/related``; large transfers split with ``message/partial`` (RFC 2046 5.2.2), which Python's
:mod:`email` package does not reassemble. Never keyed on the Subject line. Anything refused raises
:class:`Refused` with a :class:`QuarantineReason` and a German message for the coordinator.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from enum import StrEnum

from tumorboard.i18n import N_

#: Offset of the "DICM" magic in a PS3.10 file (after the 128-byte preamble).
_MAGIC_AT = 128


class QuarantineReason(StrEnum):
    """Why a mail went to the quarantine folder (stored by value)."""

    UNKNOWN_SENDER = "unknown_sender"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    WRONG_KEY = "wrong_key"
    NOT_DECRYPTABLE = "not_decryptable"
    NOT_ENCRYPTED = "not_encrypted"
    INCOMPLETE_PARTIAL = "incomplete_partial"
    ARCHIVE_TOO_LARGE = "archive_too_large"
    ARCHIVE_RATIO = "archive_ratio"
    ARCHIVE_PATH = "archive_path"
    ARCHIVE_BROKEN = "archive_broken"
    NOT_DICOM = "not_dicom"
    BAD_DICOM = "bad_dicom"
    MALFORMED = "malformed"


#: The coordinator's wording of each reason (German, translated through the catalogue).
REASON_TEXT: Mapping[QuarantineReason, str] = {
    QuarantineReason.UNKNOWN_SENDER: N_("Absender ist keinem Partner zugeordnet"),
    QuarantineReason.UNSIGNED: N_("Mail ist nicht signiert"),
    QuarantineReason.BAD_SIGNATURE: N_("Signatur ist ungültig"),
    QuarantineReason.WRONG_KEY: N_("Signiert mit einem Schlüssel, der nicht der hinterlegte des Partners ist"),
    QuarantineReason.NOT_DECRYPTABLE: N_("Mail lässt sich nicht entschlüsseln"),
    QuarantineReason.NOT_ENCRYPTED: N_("Mail ist nicht verschlüsselt"),
    QuarantineReason.INCOMPLETE_PARTIAL: N_("Teilnachrichten (message/partial) unvollständig nach Ablauf der Frist"),
    QuarantineReason.ARCHIVE_TOO_LARGE: N_("ZIP-Archiv überschreitet die Größengrenze"),
    QuarantineReason.ARCHIVE_RATIO: N_("ZIP-Archiv überschreitet das erlaubte Kompressionsverhältnis"),
    QuarantineReason.ARCHIVE_PATH: N_("ZIP-Archiv enthält unzulässige Pfade"),
    QuarantineReason.ARCHIVE_BROKEN: N_("ZIP-Archiv ist beschädigt"),
    QuarantineReason.NOT_DICOM: N_("Mail enthält keine DICOM-Objekte"),
    QuarantineReason.BAD_DICOM: N_("DICOM-Objekt ist ungültig"),
    QuarantineReason.MALFORMED: N_("Mail ist nicht lesbar"),
}


class Refused(Exception):
    """The mail goes to quarantine for ``reason``; ``detail`` is for the coordinator (never patient data)."""

    def __init__(self, reason: QuarantineReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ZipLimits:
    #: Sum of the uncompressed entry sizes an archive may have (bytes).
    max_total: int = 2 * 1024**3
    #: Uncompressed / compressed size of the archive as a whole and of each entry. DICOM pixel data compresses
    #: 2–5×, text-heavy objects more; zip bombs reach 1000×.
    max_ratio: float = 100.0
    #: Entries per archive.
    max_entries: int = 10_000


@dataclass
class Extracted:
    """What a mail carries: DICOM objects (PS3.10 bytes) and other attachments (e.g. PDF findings)."""

    objects: list[bytes] = field(default_factory=list)
    #: (file name as sent — display only, never a path —, content type, bytes).
    documents: list[tuple[str, str, bytes]] = field(default_factory=list)


def parse(raw: bytes) -> EmailMessage:
    """The message as an :class:`EmailMessage` (modern policy: ``get_content``, ``iter_parts``)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # the policy's message factory
    return message


def is_dicom_file(data: bytes) -> bool:
    """PS3.10: 128-byte preamble, then ``DICM``."""
    return len(data) >= _MAGIC_AT + 4 and data[_MAGIC_AT : _MAGIC_AT + 4] == b"DICM"


def extract(message: Message, limits: ZipLimits | None = None) -> Extracted:
    """The DICOM objects and other attachments of a decrypted mail; :class:`Refused` when it holds no DICOM
    object or an archive breaks a limit. A refused archive refuses the whole mail (nothing half-taken)."""
    limits = limits or ZipLimits()
    found = Extracted()
    for part in message.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype in ("text/plain", "text/html") and part.get_filename() is None:
            continue  # the body text
        if ctype == "application/pgp-signature":
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        filename = part.get_filename() or ""
        if ctype == "application/dicom":
            found.objects.append(data)
        elif ctype in ("application/zip", "application/x-zip-compressed") or filename.upper().endswith(".ZIP"):
            found.objects.extend(unzip(data, limits))
        elif ctype == "application/octet-stream" and is_dicom_file(data):
            found.objects.append(data)
        else:
            found.documents.append((_display_name(filename), ctype, data))
    if not found.objects:
        raise Refused(QuarantineReason.NOT_DICOM)
    return found


_BAD_NAME = re.compile(r"(^|[/\\])\.\.($|[/\\])|^[/\\]|^[A-Za-z]:|\x00")


def unzip(data: bytes, limits: ZipLimits) -> list[bytes]:
    """The DICOM files of a ``DICOM.ZIP`` (the DICOMDIR and other entries are ignored). Every entry name is
    checked before anything is read: ``..``, absolute and drive paths refuse the archive (we never write entry
    names to disk, but such an archive is not from an honest sender). Sizes are checked from the directory and
    again while reading, since a forged directory can understate them."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as err:
        raise Refused(QuarantineReason.ARCHIVE_BROKEN, type(err).__name__) from None
    if len(entries) > limits.max_entries:
        raise Refused(QuarantineReason.ARCHIVE_TOO_LARGE, f"{len(entries)} Einträge")
    for info in entries:
        if _BAD_NAME.search(info.filename):
            raise Refused(QuarantineReason.ARCHIVE_PATH, info.filename[:100])
    declared = sum(info.file_size for info in entries)
    if declared > limits.max_total:
        raise Refused(QuarantineReason.ARCHIVE_TOO_LARGE, f"{declared} Bytes")
    if declared > limits.max_ratio * max(len(data), 1):
        raise Refused(QuarantineReason.ARCHIVE_RATIO, f"{declared / max(len(data), 1):.0f}:1")
    objects: list[bytes] = []
    total = 0
    for info in entries:
        if info.is_dir():
            continue
        if info.file_size > limits.max_ratio * max(info.compress_size, 1) and info.file_size > 1024 * 1024:
            raise Refused(QuarantineReason.ARCHIVE_RATIO, info.filename[:100])
        try:
            with archive.open(info) as entry:
                # Read at most what the directory declares plus one byte: more means a forged directory.
                content = entry.read(info.file_size + 1)
        except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError, RuntimeError) as err:
            raise Refused(QuarantineReason.ARCHIVE_BROKEN, type(err).__name__) from None
        if len(content) > info.file_size:
            raise Refused(QuarantineReason.ARCHIVE_TOO_LARGE, info.filename[:100])
        total += len(content)
        if total > limits.max_total:
            raise Refused(QuarantineReason.ARCHIVE_TOO_LARGE, f"{total} Bytes")
        if is_dicom_file(content):
            objects.append(content)
    return objects


def _display_name(filename: str) -> str:
    """A sender's file name for display: its last path segment, printable, at most 200 characters."""
    name = re.split(r"[/\\]", filename)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:200] or "Anhang"


# --- message/partial (RFC 2046 5.2.2) -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Partial:
    """One fragment: the set's ``id``, this fragment's ``number`` (1-based), ``total`` (only required on the
    last fragment; None where not given)."""

    id: str
    number: int
    total: int | None
    #: The fragment's body: the next slice of the enclosed message's bytes.
    body: bytes


_MAX_FRAGMENTS = 1000


def partial_of(raw: bytes, message: Message) -> Partial | None:
    """The fragment a ``message/partial`` mail (``raw``, parsed as ``message``) carries, None for any other mail;
    :class:`Refused` for one with missing or nonsensical parameters."""
    if message.get_content_type() != "message/partial":
        return None
    set_id = message.get_param("id")
    number = message.get_param("number")
    total = message.get_param("total")
    if not isinstance(set_id, str) or not set_id or len(set_id) > 500 or not isinstance(number, str):
        raise Refused(QuarantineReason.MALFORMED, "message/partial ohne id/number")
    try:
        n = int(number)
        t = int(total) if isinstance(total, str) else None
    except ValueError:
        raise Refused(QuarantineReason.MALFORMED, "message/partial: number/total keine Zahl") from None
    if not 1 <= n <= _MAX_FRAGMENTS or (t is not None and not n <= t <= _MAX_FRAGMENTS):
        raise Refused(QuarantineReason.MALFORMED, "message/partial: number/total außerhalb des Bereichs")
    return Partial(set_id, n, t, partial_body(raw))


def partial_body(raw: bytes) -> bytes:
    """The body bytes of a raw message/partial mail exactly as sent (after the blank line that ends the
    headers): reassembly must not go through a parser that could re-fold the enclosed headers."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(separator)
        if at >= 0:
            return raw[at + len(separator) :]
    return b""


def total_of(fragments: Mapping[int, Partial]) -> int | None:
    """The set's size, once a fragment has said it."""
    for fragment in fragments.values():
        if fragment.total is not None:
            return fragment.total
    return None


def is_complete(fragments: Mapping[int, Partial]) -> bool:
    total = total_of(fragments)
    return total is not None and all(n in fragments for n in range(1, total + 1))


def reassemble(bodies: Mapping[int, bytes], total: int) -> bytes:
    """The enclosed message: the fragments' bodies in order (RFC 2046 5.2.2.1 — the first fragment's body starts
    with the enclosed message's own headers, which replace the outer ones). Raises :class:`Refused` when one is
    missing."""
    missing = [n for n in range(1, total + 1) if n not in bodies]
    if missing:
        raise Refused(QuarantineReason.INCOMPLETE_PARTIAL, f"fehlend: {missing[:10]}")
    return b"".join(bodies[n] for n in range(1, total + 1))


def partial_expired(first_seen: dt.datetime, now: dt.datetime, timeout: dt.timedelta) -> bool:
    """An incomplete set older than ``timeout`` goes to quarantine."""
    return now - first_seen >= timeout
