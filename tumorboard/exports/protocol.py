"""Protocol PDFs (pure renderers): the session protocol with all cases and the attendance list, and the protocol of
one case for the patient record (patient, diagnosis, question, recommendation, participants, signer, version)."""

from __future__ import annotations

import datetime as dt

from tumorboard.exports.pdf import render_pdf
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.protocol.models import THERAPY_TYPES
from tumorboard.protocol.services import CaseEntry, ProtocolData


def render_protocol_pdf(
    data: ProtocolData, *, templates: ExportTemplates, generated_at: dt.datetime, locale: str = "de"
) -> bytes:
    """The session protocol (all cases + Teilnehmerliste) as PDF/A-3b."""
    html = templates.render(
        "exports/pdf/protocol.html", locale=locale, data=data, therapy=THERAPY_TYPES, generated_at=generated_at
    )
    return render_pdf(html)


def render_case_protocol_pdf(
    data: ProtocolData, entry: CaseEntry, *, templates: ExportTemplates, generated_at: dt.datetime, locale: str = "de"
) -> bytes:
    """The protocol of one case, for the patient record."""
    html = templates.render(
        "exports/pdf/case_protocol.html",
        locale=locale,
        data=data,
        entry=entry,
        therapy=THERAPY_TYPES,
        generated_at=generated_at,
    )
    return render_pdf(html)
