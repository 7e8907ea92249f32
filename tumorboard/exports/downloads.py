"""Downloads as the web and the CLI hand them out: load what a renderer needs, render, name the file.

The renderers (:mod:`tumorboard.exports.agenda`) stay pure; this is the one place that reads the database for an
agenda download, so the page's "PDF"/"CSV" links and ``tumorboard agenda export`` cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from tumorboard.cases.agenda import Agenda, agenda_version, current_agenda, latest_version
from tumorboard.conferences.models import ConferenceSession
from tumorboard.exports import archive
from tumorboard.exports.agenda import render_agenda_csv, render_agenda_pdf
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.summaries import imaging_summaries
from tumorboard.patients.names import fold

AgendaFormat = Literal["pdf", "csv"]
MIMETYPES: dict[AgendaFormat, str] = {"pdf": "application/pdf", "csv": "text/csv"}


@dataclass(frozen=True)
class Download:
    agenda: Agenda  #: what was rendered (version or draft), for the caller's audit event and message
    body: bytes
    filename: str  #: board and date only, never patient data; ASCII, so it fits a Content-Disposition header
    mimetype: str


def agenda_filename(cs: ConferenceSession, fmt: AgendaFormat) -> str:
    """``tagesordnung-<board>-<YYYY-MM-DD>.<fmt>``."""
    slug = re.sub(r"[^a-z0-9]+", "-", fold(cs.board.short_name)).strip("-") or "konferenz"
    return f"tagesordnung-{slug}-{cs.local_start:%Y-%m-%d}.{fmt}"


def agenda_download(
    session: Session,
    cs: ConferenceSession,
    *,
    fmt: AgendaFormat,
    locale: str,
    at: dt.datetime,
    imaging_store: Spool | None,
    templates: ExportTemplates,
) -> Download:
    """The session's current agenda (newest frozen version, or the live draft) with each case's imaging state; the
    PDF also prints the series previews from ``imaging_store``. A frozen version's German PDF is the one kept at
    its freeze (:mod:`tumorboard.exports.archive`); a version frozen before that was kept is rendered and kept
    now, in the caller's transaction. The caller audits the access and commits."""
    row = latest_version(session, cs)
    if fmt == "pdf" and row is not None and locale == archive.ARCHIVE_LOCALE:
        # A frozen version is a document: served as kept at its freeze (older versions are kept now).
        body = archive.kept_pdf(row) or archive.keep_pdf(session, row, templates=templates, imaging_store=imaging_store)
        return Download(
            agenda=agenda_version(cs, row), body=body, filename=agenda_filename(cs, fmt), mimetype=MIMETYPES[fmt]
        )
    agenda = current_agenda(session, cs, at=at)
    imaging = imaging_summaries(session, [e.case_id for e in agenda.entries])
    if fmt == "pdf":
        body = render_agenda_pdf(
            agenda,
            templates=templates,
            generated_at=at,
            locale=locale,
            imaging=imaging,
            imaging_store=imaging_store,
        )
    else:
        body = render_agenda_csv(agenda, locale=locale, imaging=imaging)
    return Download(agenda=agenda, body=body, filename=agenda_filename(cs, fmt), mimetype=MIMETYPES[fmt])
