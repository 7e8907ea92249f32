"""Frozen agendas are documents: rendered once when frozen, kept with their SHA-256, served as kept (issue 12).

A frozen version never changes, yet its PDF used to be rendered again on every download (1–2 s, more with preview
strips). Now the transaction that freezes a version — the scheduler's job at the deadline, or the case change
that makes a new version, whoever calls it — also renders its PDF before it commits: :func:`install` hangs one
``before_commit`` hook on the process's session factory (called by :func:`tumorboard.bootstrap.bootstrap`), so no
service has to know about rendering and the layers stay as they are. The live draft still renders on demand.

The PDF is the German document (the board's working language), printed with the imaging state at the time of
freezing and ``generated_at`` = the freeze time, so it is the same file however often it is downloaded. Other
locales are rendered on demand.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from tumorboard.cases.agenda import agenda_version
from tumorboard.cases.models import AgendaVersion
from tumorboard.conferences.models import ConferenceSession
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.i18n import DEFAULT_LOCALE
from tumorboard.imaging.dicom.spool import Spool

log = logging.getLogger(__name__)

#: The language of the kept PDF.
ARCHIVE_LOCALE = DEFAULT_LOCALE
_PENDING = "tumorboard.frozen_agenda_versions"
_RENDERERS: WeakKeyDictionary[type[Session], tuple[ExportTemplates, Callable[[], Spool | None]]] = WeakKeyDictionary()


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def keep_pdf(session: Session, row: AgendaVersion, *, templates: ExportTemplates, imaging_store: Spool | None) -> bytes:
    """Render ``row`` (German, as of its freeze time) and keep the bytes and their SHA-256 on it."""
    from tumorboard.exports.agenda import render_agenda_pdf  # WeasyPrint loads only when something is rendered
    from tumorboard.imaging.summaries import imaging_summaries

    cs = session.get_one(ConferenceSession, row.session_id)
    agenda = agenda_version(cs, row)
    body = render_agenda_pdf(
        agenda,
        templates=templates,
        generated_at=row.created_at,
        locale=ARCHIVE_LOCALE,
        imaging=imaging_summaries(session, [e.case_id for e in agenda.entries]),
        imaging_store=imaging_store,
    )
    row.pdf, row.pdf_sha256 = body, sha256_hex(body)
    return body


def kept_pdf(row: AgendaVersion) -> bytes | None:
    """The kept PDF if it is there and its SHA-256 still matches; None otherwise (the caller renders again)."""
    if row.pdf is None or row.pdf_sha256 is None:
        return None
    if sha256_hex(row.pdf) != row.pdf_sha256:
        log.error("agenda version %s: kept PDF does not match its SHA-256; rendered again", row.id)
        return None
    return row.pdf


def install(
    factory: sessionmaker[Session], *, templates: ExportTemplates, imaging_store: Callable[[], Spool | None]
) -> None:
    """Render every agenda version a session creates before that session commits."""
    # sessionmaker makes a Session subclass of its own: its sessions (even those made before) find their renderer.
    _RENDERERS[factory.class_] = (templates, imaging_store)
    if event.contains(factory, "before_commit", _render_before_commit):
        return
    event.listen(factory, "after_flush", _collect)
    event.listen(factory, "before_commit", _render_before_commit)
    event.listen(factory, "after_soft_rollback", _forget)


def _collect(session: Session, _flush_context: object) -> None:
    new = [obj for obj in session.new if isinstance(obj, AgendaVersion)]
    if new:
        session.info.setdefault(_PENDING, []).extend(new)


def _forget(session: Session, _previous_transaction: object) -> None:
    session.info.pop(_PENDING, None)


def _render_before_commit(session: Session) -> None:
    session.flush()  # versions still pending reach _collect
    rows: list[AgendaVersion] = session.info.pop(_PENDING, [])
    renderer = _RENDERERS.get(type(session))
    if not rows or renderer is None:
        return
    templates, imaging_store = renderer
    for row in rows:
        if row.pdf is not None:
            continue
        try:
            keep_pdf(session, row, templates=templates, imaging_store=imaging_store())
        except Exception:
            # The freeze itself must not fail because the PDF could not be rendered: the version is kept without
            # it and rendered (and kept) at its first download.
            log.exception("agenda version %s: PDF not rendered at freeze", row.id)
    session.flush()
