"""DICOM E-Mail: which MIME parts of a (decrypted) mail carry DICOM objects, and message/partial reassembly.

Everything works from file to file in bounded memory (a mail may be 50 MB and more; issue 14 allows the poller
300 MB): the MIME structure is read in blocks of 1 MiB and each leaf part's decoded body written to its own file,
ZIP entries are inflated one at a time into files, message/partial sets are joined on disk. No database.
What the network sends (see shared/domain/dicom.md): ``application/dicom`` parts (RFC 3240),
``application/octet-stream`` parts whose bytes carry the ``DICM`` preamble, a ``DICOM.ZIP`` attachment
(PS3.11 Annex L), in ``multipart/mixed`` or ``multipart/related``; large transfers split with ``message/partial``
(RFC 2046 5.2.2), which Python's :mod:`email` package does not reassemble. Never keyed on the Subject line.
Anything refused raises :class:`Refused` with a :class:`QuarantineReason` and a German message for the
coordinator.
"""

from __future__ import annotations

import binascii
import datetime as dt
import email.policy
import quopri
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from enum import StrEnum
from pathlib import Path
from typing import IO, BinaryIO

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


@dataclass(frozen=True)
class Document:
    """A non-DICOM attachment (e.g. a PDF finding)."""

    #: The file name as sent, for display only (last path segment, printable) — never a path.
    name: str
    content_type: str
    #: Its decoded bytes, in the mail's work folder.
    path: Path


@dataclass
class Extracted:
    """What a mail carries: DICOM objects (PS3.10 files) and other attachments, all as files in a work folder."""

    objects: list[Path] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)


@dataclass(frozen=True)
class Leaf:
    """A non-multipart part of a mail: its headers and its decoded body, written to ``path``."""

    headers: EmailMessage
    path: Path

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type()

    @property
    def filename(self) -> str | None:
        return self.headers.get_filename()


_PARSER = BytesHeaderParser(policy=email.policy.default)
#: How much of a file is read at once.
_BLOCK = 1024 * 1024
#: A header block (of the message or of one part) may not be longer (RFC 5322 lines are 998 bytes at most).
_MAX_HEADER = 256 * 1024
#: A boundary line is "--" + at most 70 characters + "--" + transport padding: longer lines are never one.
_PEEK = 256
#: Parts per mail and multipart nesting depth (a mail with more is malformed, not a reason to run out of files).
_MAX_PARTS = 20_000
_MAX_DEPTH = 20


def parse_headers(data: bytes) -> EmailMessage:
    """A header block as an :class:`EmailMessage` without body (modern policy: ``get_content_type`` …)."""
    message = _PARSER.parsebytes(data, headersonly=True)
    assert isinstance(message, EmailMessage)  # the policy's message factory
    return message


def header_block(path: Path) -> tuple[bytes, int]:
    """The header block of the message in ``path`` (up to and including the blank line) and the offset where its
    body starts. :class:`Refused` when no blank line ends the headers within ``_MAX_HEADER`` bytes and the file
    goes on."""
    with open(path, "rb") as fh:
        head = fh.read(_MAX_HEADER)
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = head.find(separator)
        if at >= 0:
            return head[: at + len(separator)], at + len(separator)
    if len(head) < _MAX_HEADER:
        return head, len(head)  # headers only
    raise Refused(QuarantineReason.MALFORMED, "Kopfzeilen zu lang")


def read_headers(path: Path) -> EmailMessage:
    """The headers of the message in ``path`` (the body is not read)."""
    return parse_headers(header_block(path)[0])


def is_dicom_file(data: bytes) -> bool:
    """PS3.10: 128-byte preamble, then ``DICM`` (``data``: at least the first 132 bytes of a file)."""
    return len(data) >= _MAGIC_AT + 4 and data[_MAGIC_AT : _MAGIC_AT + 4] == b"DICM"


def starts_dicom(path: Path) -> bool:
    with open(path, "rb") as fh:
        return is_dicom_file(fh.read(_MAGIC_AT + 4))


@dataclass(frozen=True)
class _Term:
    """A boundary line that ended a part: which multipart (depth in the stack) and whether it closed it."""

    depth: int
    close: bool


class _MimeReader:
    """Reads a MIME entity from a file in blocks and writes each leaf's decoded body to its own file.

    Bodies are scanned for ``\n--`` with ``bytes.find`` over whole blocks (a 700 kB base64 part is a handful of
    searches, not ten thousand Python-level lines); only a line that starts with ``--`` is compared with the
    boundaries of the enclosing multiparts (RFC 2046 5.1.1: the CRLF before a boundary belongs to the boundary)."""

    def __init__(self, fh: BinaryIO, into: Path) -> None:
        self.fh = fh
        self.into = into
        self.buf = b""
        self.pos = 0
        self.eof = False
        self.leaves: list[Leaf] = []

    def _fill(self, need: int) -> bool:
        """At least ``need`` unread bytes in the buffer, unless the file ends first."""
        while len(self.buf) - self.pos < need and not self.eof:
            block = self.fh.read(max(_BLOCK, need))
            if not block:
                self.eof = True
                break
            self.buf = self.buf[self.pos :] + block
            self.pos = 0
        return len(self.buf) - self.pos >= need

    def _boundary_here(self, stack: list[bytes]) -> _Term | None:
        """If the line at the read position is a boundary of ``stack``, consume it and say which."""
        self._fill(_PEEK)
        if not self.buf.startswith(b"--", self.pos):
            return None
        nl = self.buf.find(b"\n", self.pos, self.pos + _PEEK)
        if nl >= 0:
            end = nl + 1
        elif self.eof and len(self.buf) - self.pos <= _PEEK:
            end = len(self.buf)
        else:
            return None
        line = self.buf[self.pos : end].rstrip(b" \t\r\n")
        for depth in range(len(stack) - 1, -1, -1):
            delimiter = b"--" + stack[depth]
            if line == delimiter or line == delimiter + b"--":
                self.pos = end
                return _Term(depth, line != delimiter)
        return None

    def _headers(self, stack: list[bytes]) -> tuple[bytes, _Term | None]:
        """A part's header block, up to the blank line; a boundary instead ends the (empty) part."""
        lines: list[bytes] = []
        size = 0
        while True:
            term = self._boundary_here(stack)
            if term is not None:
                return b"", term
            self._fill(_PEEK)
            nl = self.buf.find(b"\n", self.pos, self.pos + _MAX_HEADER)
            if nl < 0:
                if not self._fill(_MAX_HEADER) and self.eof:
                    lines.append(self.buf[self.pos :])
                    self.pos = len(self.buf)
                    return b"".join(lines), None
                nl = self.buf.find(b"\n", self.pos, self.pos + _MAX_HEADER)
                if nl < 0:
                    raise Refused(QuarantineReason.MALFORMED, "Kopfzeile zu lang")
            line = self.buf[self.pos : nl + 1]
            self.pos = nl + 1
            if line in (b"\r\n", b"\n"):
                return b"".join(lines), None
            size += len(line)
            if size > _MAX_HEADER:
                raise Refused(QuarantineReason.MALFORMED, "Kopfzeilen zu lang")
            lines.append(line)

    def _body(self, stack: list[bytes], write: Callable[[bytes], object]) -> _Term | None:
        """Pass the body at the read position to ``write`` up to the next boundary of ``stack`` (returned, and
        consumed) or the end of the file (None). The read position is at the start of a line."""
        held = b""  # the line break before a "--" line: the boundary's if one follows, else the body's
        at_line_start = True
        while True:
            if at_line_start:
                term = self._boundary_here(stack)
                if term is not None:
                    return term
            if held:
                write(held)
                held = b""
            found = self.buf.find(b"\n--", self.pos)
            if found < 0:
                if self.eof:
                    write(self.buf[self.pos :])
                    self.pos = len(self.buf)
                    return None
                # Keep the last three bytes: "\r\n-" may continue in the next block.
                cut = max(self.pos, len(self.buf) - 3)
                if cut > self.pos:
                    write(self.buf[self.pos : cut])
                    self.pos = cut
                self._fill(len(self.buf) - self.pos + 1)
                at_line_start = False
                continue
            brk = found - 1 if found > self.pos and self.buf[found - 1] == 0x0D else found
            if brk > self.pos:
                write(self.buf[self.pos : brk])
            held = self.buf[brk : found + 1]
            self.pos = found + 1
            at_line_start = True

    def entity(self, stack: list[bytes], depth: int = 0) -> tuple[EmailMessage, _Term | None]:
        """Read one entity (headers, then its parts or its body) ending at a boundary of ``stack`` or EOF."""
        if depth > _MAX_DEPTH or len(self.leaves) > _MAX_PARTS:
            raise Refused(QuarantineReason.MALFORMED, "zu viele oder zu tief verschachtelte Teile")
        raw_headers, term = self._headers(stack)
        headers = parse_headers(raw_headers)
        if term is not None:
            return headers, term
        boundary = headers.get_boundary() if headers.get_content_maintype() == "multipart" else None
        if boundary:
            own = len(stack)
            inner = [*stack, boundary.encode("ascii", "replace")]
            term = self._body(inner, lambda data: None)  # the preamble
            while term is not None and term.depth == own and not term.close:
                _, term = self.entity(inner, depth + 1)
            if term is not None and term.depth == own:  # closed: the epilogue, up to a parent's boundary
                term = self._body(stack, lambda data: None)
            return headers, term
        fd, name = tempfile.mkstemp(dir=self.into, suffix=".part")
        with open(fd, "wb") as out:
            decoder = _decoder(str(headers.get("Content-Transfer-Encoding", "") or "").strip().lower())
            term = self._body(stack, lambda data: out.write(decoder.feed(data)))
            out.write(decoder.end())
        self.leaves.append(Leaf(headers, Path(name)))
        return headers, term


class _Decoder:
    """7bit, 8bit, binary and unknown encodings: the bytes as they are."""

    def feed(self, data: bytes) -> bytes:
        return data

    def end(self) -> bytes:
        return b""


class _Base64(_Decoder):
    _WHITESPACE = b" \t\r\n"

    def __init__(self) -> None:
        self.rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self.rest + data.translate(None, self._WHITESPACE)
        usable = len(data) - len(data) % 4
        self.rest = data[usable:]
        return _b64(data[:usable])

    def end(self) -> bytes:
        rest, self.rest = self.rest, b""
        return _b64(rest + b"=" * (-len(rest) % 4)) if rest.strip(b"=") else b""


def _b64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        raise Refused(QuarantineReason.MALFORMED, "Base64 fehlerhaft") from None


class _QuotedPrintable(_Decoder):
    def __init__(self) -> None:
        self.rest = b""

    def feed(self, data: bytes) -> bytes:
        # Decode whole lines only (a soft line break "=" CRLF may straddle two feeds).
        data = self.rest + data
        nl = data.rfind(b"\n")
        if nl < 0:
            self.rest = data
            return b""
        self.rest = data[nl + 1 :]
        return quopri.decodestring(data[: nl + 1])

    def end(self) -> bytes:
        rest, self.rest = self.rest, b""
        return quopri.decodestring(rest)


def _decoder(cte: str) -> _Decoder:
    if cte == "base64":
        return _Base64()
    if cte == "quoted-printable":
        return _QuotedPrintable()
    return _Decoder()


def split(path: Path, into: Path) -> tuple[EmailMessage, list[Leaf]]:
    """The message in ``path``: its headers and its leaf parts, each decoded into a file in ``into`` (a
    non-multipart message is its own single leaf)."""
    with open(path, "rb") as fh:
        reader = _MimeReader(fh, into)
        headers, _ = reader.entity([])
    return headers, reader.leaves


def extract(leaves: list[Leaf], into: Path, limits: ZipLimits | None = None) -> Extracted:
    """The DICOM objects and other attachments of a decrypted mail; :class:`Refused` when it holds no DICOM
    object or an archive breaks a limit. A refused archive refuses the whole mail (nothing half-taken)."""
    limits = limits or ZipLimits()
    found = Extracted()
    for part in leaves:
        ctype = part.content_type
        filename = part.filename or ""
        if ctype in ("text/plain", "text/html") and part.filename is None:
            continue  # the body text
        if ctype in ("application/pgp-signature", "application/pgp-encrypted"):
            continue
        if ctype == "application/dicom":
            found.objects.append(part.path)
        elif ctype in ("application/zip", "application/x-zip-compressed") or filename.upper().endswith(".ZIP"):
            found.objects.extend(unzip(part.path, into, limits))
        elif ctype == "application/octet-stream" and starts_dicom(part.path):
            found.objects.append(part.path)
        else:
            found.documents.append(Document(_display_name(filename), ctype, part.path))
    if not found.objects:
        raise Refused(QuarantineReason.NOT_DICOM)
    return found


_BAD_NAME = re.compile(r"(^|[/\\])\.\.($|[/\\])|^[/\\]|^[A-Za-z]:|\x00")


def unzip(path: Path, into: Path, limits: ZipLimits) -> list[Path]:
    """The DICOM files of a ``DICOM.ZIP`` (the DICOMDIR and other entries are ignored), each inflated into its
    own file in ``into`` under a name we choose. Every entry name is checked before anything is read: ``..``,
    absolute and drive paths refuse the archive (we never write entry names to disk, but such an archive is not
    from an honest sender). Sizes are checked from the directory and again while inflating, since a forged
    directory can understate them."""
    compressed = path.stat().st_size
    try:
        archive = zipfile.ZipFile(path)
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as err:
        raise Refused(QuarantineReason.ARCHIVE_BROKEN, type(err).__name__) from None
    with archive:
        if len(entries) > limits.max_entries:
            raise Refused(QuarantineReason.ARCHIVE_TOO_LARGE, f"{len(entries)} Einträge")
        for info in entries:
            if _BAD_NAME.search(info.filename):
                raise Refused(QuarantineReason.ARCHIVE_PATH, info.filename[:100])
        declared = sum(info.file_size for info in entries)
        if declared > limits.max_total:
            raise Refused(QuarantineReason.ARCHIVE_TOO_LARGE, f"{declared} Bytes")
        if declared > limits.max_ratio * max(compressed, 1):
            raise Refused(QuarantineReason.ARCHIVE_RATIO, f"{declared / max(compressed, 1):.0f}:1")
        objects: list[Path] = []
        total = 0
        for info in entries:
            if info.is_dir():
                continue
            if info.file_size > limits.max_ratio * max(info.compress_size, 1) and info.file_size > 1024 * 1024:
                raise Refused(QuarantineReason.ARCHIVE_RATIO, info.filename[:100])
            fd, name = tempfile.mkstemp(dir=into, suffix=".zipentry")
            try:
                with open(fd, "wb") as out, archive.open(info) as entry:
                    # Inflate at most what the directory declares plus one byte: more means a forged directory.
                    written = _copy(entry, out, info.file_size + 1)
            except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError, RuntimeError) as err:
                raise Refused(QuarantineReason.ARCHIVE_BROKEN, type(err).__name__) from None
            if written > info.file_size:
                raise Refused(QuarantineReason.ARCHIVE_TOO_LARGE, info.filename[:100])
            total += written
            if total > limits.max_total:
                raise Refused(QuarantineReason.ARCHIVE_TOO_LARGE, f"{total} Bytes")
            if starts_dicom(Path(name)):
                objects.append(Path(name))
            else:
                Path(name).unlink()
    return objects


def _copy(source: IO[bytes], target: IO[bytes], limit: int) -> int:
    """Copy at most ``limit`` bytes in blocks; returns how many were copied."""
    copied = 0
    while copied < limit:
        block = source.read(min(_BLOCK, limit - copied))
        if not block:
            break
        target.write(block)
        copied += len(block)
    return copied


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
    #: Where the fragment's body (the next slice of the enclosed message's bytes, exactly as sent) starts in
    #: the raw mail: reassembly must not go through a parser that could re-fold the enclosed headers.
    body_offset: int


_MAX_FRAGMENTS = 1000


def partial_of(path: Path) -> Partial | None:
    """The fragment the ``message/partial`` mail in ``path`` carries, None for any other mail; :class:`Refused`
    for one with missing or nonsensical parameters."""
    head, offset = header_block(path)
    message = parse_headers(head)
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
    return Partial(set_id, n, t, offset)


def total_of(fragments: Mapping[int, Partial]) -> int | None:
    """The set's size, once a fragment has said it."""
    for fragment in fragments.values():
        if fragment.total is not None:
            return fragment.total
    return None


def is_complete(fragments: Mapping[int, Partial]) -> bool:
    total = total_of(fragments)
    return total is not None and all(n in fragments for n in range(1, total + 1))


def reassemble(fragments: Mapping[int, tuple[Path, int]], total: int, into: Path) -> Path:
    """The enclosed message, written to a file in ``into``: the fragments' bodies (``fragments``: number →
    (raw mail, body offset)) in order (RFC 2046 5.2.2.1 — the first fragment's body starts with the enclosed
    message's own headers, which replace the outer ones). Raises :class:`Refused` when one is missing."""
    missing = [n for n in range(1, total + 1) if n not in fragments]
    if missing:
        raise Refused(QuarantineReason.INCOMPLETE_PARTIAL, f"fehlend: {missing[:10]}")
    fd, name = tempfile.mkstemp(dir=into, suffix=".eml")
    with open(fd, "wb") as out:
        for n in range(1, total + 1):
            source, offset = fragments[n]
            with open(source, "rb") as fh:
                fh.seek(offset)
                shutil.copyfileobj(fh, out, _BLOCK)
    return Path(name)


def partial_expired(first_seen: dt.datetime, now: dt.datetime, timeout: dt.timedelta) -> bool:
    """An incomplete set older than ``timeout`` goes to quarantine."""
    return now - first_seen >= timeout
