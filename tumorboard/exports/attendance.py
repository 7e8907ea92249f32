"""Attendance exports (pure renderers): the Teilnehmerliste as PDF/A and CSV, and the CME attendance certificate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tumorboard.attendance.models import Attendance
from tumorboard.clock import BERLIN
from tumorboard.conferences.models import ConferenceSession
from tumorboard.exports.csv import render_csv
from tumorboard.exports.pdf import render_pdf
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.i18n import N_, translate

MODES = {"in_person": N_("vor Ort"), "video": N_("Video")}
CSV_HEADER = (
    N_("Name"),
    N_("Institution"),
    N_("Fachrichtung"),
    N_("EFN"),
    N_("Modus"),
    N_("Ankunft"),
    N_("Gegangen"),
    N_("vertritt"),
    N_("vertritt (Fachrichtung)"),
)


def render_attendance_pdf(
    cs: ConferenceSession,
    rows: Sequence[Attendance],
    *,
    templates: ExportTemplates,
    generated_at: dt.datetime,
    locale: str = "de",
) -> bytes:
    html = templates.render("exports/pdf/attendance.html", locale=locale, cs=cs, rows=rows, generated_at=generated_at)
    return render_pdf(html)


def _hm(value: dt.datetime | None) -> str:
    return value.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M") if value else ""


def render_attendance_csv(rows: Sequence[Attendance], *, locale: str = "de") -> bytes:
    """One line per participant (UTF-8 BOM, ``;``, formula-safe via exports.csv)."""
    return render_csv(
        (
            (
                a.name,
                a.institution,
                a.discipline,
                a.efn or "",
                translate(MODES[a.mode.value], locale),
                _hm(a.arrived_at),
                _hm(a.left_at),
                a.stands_in_for_name or "",
                a.stands_in_for_discipline or "",
            )
            for a in rows
        ),
        header=[translate(h, locale) for h in CSV_HEADER],
    )


def render_cme_pdf(
    cs: ConferenceSession, row: Attendance, *, templates: ExportTemplates, generated_at: dt.datetime, locale: str = "de"
) -> bytes:
    """Teilnahmebescheinigung (CME) for one physician: name, EFN, board, date, times."""
    html = templates.render(
        "exports/pdf/cme.html", locale=locale, cs=cs, row=row, report=None, sentence="", generated_at=generated_at
    )
    return render_pdf(html)
