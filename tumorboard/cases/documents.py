"""Document attachments: PDF only, size-limited, stored outside the web root under names we choose."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.auth.models import User
from tumorboard.cases.models import Case, CaseDocument, DocumentKind
from tumorboard.errors import InvalidInput, NotFound
from tumorboard.i18n import N_

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class DocumentStore:
    """Files live in ``root`` (the instance folder's ``documents/``), never under static/ or templates/."""

    root: Path

    def path(self, stored_name: str) -> Path:
        if not stored_name.endswith(".pdf") or not stored_name[:-4].isalnum():
            raise NotFound(N_("Dieses Dokument gibt es nicht."))
        return self.root / stored_name

    def write(self, data: bytes) -> str:
        """Atomically: temp file, fsync, rename. Returns the stored name. Folder 0700, file 0600: patient data."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        name = secrets.token_hex(16) + ".pdf"
        tmp = self.root / f".{name}.part"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / name)
        return name

    def write_file(self, source: Path) -> str:
        """Like :meth:`write`, copying ``source`` block by block (a finding taken from a mail on disk)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        name = secrets.token_hex(16) + ".pdf"
        tmp = self.root / f".{name}.part"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f, open(source, "rb") as src:
            shutil.copyfileobj(src, f, 1024 * 1024)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / name)
        return name

    def read(self, stored_name: str) -> bytes:
        try:
            return self.path(stored_name).read_bytes()
        except FileNotFoundError:
            raise NotFound(N_("Die Datei dieses Dokuments fehlt im Ablageordner.")) from None


def download_name(doc: CaseDocument) -> str:
    """``dokument-<id>-<name>.pdf`` with the uploaded name reduced to ASCII letters, digits, ``-`` and ``_`` (at
    most 60): safe in a quoted header and on every file system, and always ``.pdf`` — the bytes are a PDF."""
    stem = doc.original_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    clean = re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_stem).strip("-")[:60].strip("-")
    return f"dokument-{doc.id}-{clean}.pdf" if clean else f"dokument-{doc.id}.pdf"


def add_document(
    session: Session,
    case: Case,
    *,
    data: bytes,
    original_name: str,
    content_type: str,
    kind: DocumentKind | str,
    uploaded_by: User,
    store: DocumentStore,
    at: dt.datetime,
    actor: Actor,
) -> CaseDocument:
    """Attach a PDF to a case (findings, pathology report, letter)."""
    if not data:
        raise InvalidInput(N_("Die Datei ist leer."), field="file")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(N_("Die Datei ist zu groß (höchstens 20 MB)."), field="file")
    if not data.startswith(b"%PDF-") or content_type not in (
        "application/pdf",
        "application/x-pdf",
        "application/octet-stream",
    ):
        raise InvalidInput(N_("Nur PDF-Dateien können angehängt werden."), field="file")
    try:
        kind = DocumentKind(kind)
    except ValueError:
        raise InvalidInput(N_("Unbekannte Dokumentart."), field="kind") from None
    clean_name = "".join(c for c in os.path.basename(original_name or "dokument.pdf") if c.isprintable())[:255]
    stored = store.write(data)
    doc = CaseDocument(
        case=case,
        kind=kind,
        original_name=clean_name or "dokument.pdf",
        stored_name=stored,
        content_type="application/pdf",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=uploaded_by.id,
        uploaded_at=at,
    )
    session.add(doc)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_DOCUMENT_ADD,
        subject_type=SubjectType.CASE,
        subject_id=case.id,
        at=at,
        after={"document_id": doc.id, "kind": kind.value, "size": len(data), "sha256": doc.sha256},
    )
    return doc


def add_received_document(
    session: Session,
    case: Case,
    *,
    stored_name: str,
    original_name: str,
    size: int,
    sha256: str,
    source: dict[str, object],
    at: dt.datetime,
    actor: Actor,
) -> CaseDocument:
    """Attach a finding that arrived with a study (a PDF already checked and written to the document store by
    the mail intake) to ``case`` as a :attr:`DocumentKind.FINDING` without an uploading user; ``source`` names
    where it came from in the audit event (e.g. the mail's row id)."""
    clean_name = "".join(c for c in os.path.basename(original_name or "befund.pdf") if c.isprintable())[:255]
    doc = CaseDocument(
        case=case,
        kind=DocumentKind.FINDING,
        original_name=clean_name or "befund.pdf",
        stored_name=stored_name,
        content_type="application/pdf",
        size_bytes=size,
        sha256=sha256,
        uploaded_by_id=None,
        uploaded_at=at,
    )
    session.add(doc)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_DOCUMENT_ADD,
        subject_type=SubjectType.CASE,
        subject_id=case.id,
        at=at,
        after={"document_id": doc.id, "kind": doc.kind.value, "size": size, "sha256": sha256, **source},
    )
    return doc
