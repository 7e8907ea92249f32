"""CME exports (pure renderers, issue 15): the chamber's CSV of a session (EFN, VNR, date, point flags, name),
the attendance list in the chamber's form, and the certificate with VNR, points, category and the chamber's
sentence."""

from __future__ import annotations

import datetime as dt

from tumorboard.attendance.models import Attendance
from tumorboard.cme.services import CHAMBER_SENTENCE, CmeReport
from tumorboard.exports.csv import render_csv
from tumorboard.exports.pdf import render_pdf
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.i18n import N_, translate

#: The columns of the EIV push (push_teilnahme), in the chamber's field names, and the name for reading.
CSV_HEADER = (
    "efn",
    "vnr",
    "teilnahmedatum",
    "punkte_basis_flag",
    "punkte_lernerfolg_flag",
    "punkte_referent",
    N_("Name"),
)


def chamber_sentence(report: CmeReport, locale: str = "de") -> str:
    return translate(
        CHAMBER_SENTENCE, locale, points=report.accreditation.points, category=report.accreditation.category
    )


def render_cme_csv(report: CmeReport, *, locale: str = "de") -> bytes:
    """One line per attendee with an EFN: what the chamber gets (basis points yes, learning-success points no,
    no speaker points); attendees without EFN are not in it (paper certificate)."""
    day = report.cs.local_start.date().isoformat()
    return render_csv(
        ((a.efn, report.vnr, day, "1", "0", "0", a.name) for a in report.with_efn),
        header=[translate(h, locale) for h in CSV_HEADER],
    )


def render_cme_attendance_pdf(
    report: CmeReport, *, templates: ExportTemplates, generated_at: dt.datetime, locale: str = "de"
) -> bytes:
    """The attendance list in the chamber's form: event data with VNR, every attendee with EFN and a signature
    column, and the list of physicians without EFN (paper certificate, the original list goes to the chamber)."""
    html = templates.render(
        "exports/pdf/cme_attendance.html", locale=locale, report=report, cs=report.cs,
        sentence=chamber_sentence(report, locale), generated_at=generated_at,
    )  # fmt: skip
    return render_pdf(html)


def render_cme_certificate(
    report: CmeReport, row: Attendance, *, templates: ExportTemplates, generated_at: dt.datetime, locale: str = "de"
) -> bytes:
    """The certificate of one attendee with everything the chamber asks for (qm.md "Certificate minimum")."""
    html = templates.render(
        "exports/pdf/cme.html", locale=locale, cs=report.cs, row=row, report=report,
        sentence=chamber_sentence(report, locale), generated_at=generated_at,
    )  # fmt: skip
    return render_pdf(html)
