"""The agenda (Tagesordnung) of a session as PDF/A-3b and as CSV — pure renderers: an :class:`Agenda` in, bytes out.

Input is :class:`tumorboard.cases.agenda.Agenda` (a frozen version or the live draft); nothing here queries the
database. Imaging status comes in as an optional mapping case id → the imaging domain's summary; without it, or for
a case missing from it, the cell shows "—".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from tumorboard.cases.agenda import Agenda, AgendaChange, AgendaEntry
from tumorboard.exports.csv import render_csv
from tumorboard.exports.pdf import render_pdf
from tumorboard.exports.rendering import ExportTemplates, format_birthdate
from tumorboard.i18n import N_, translate, translate_plural
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.previews import preview_data_uri
from tumorboard.imaging.summaries import ImagingSummary

NO_VALUE = "—"

#: oBDS Tumorkonferenz_Typ, as printed.
TYPE_LABELS = {
    "praeth": N_("prätherapeutisch"),
    "postop": N_("postoperativ"),
    "postth": N_("posttherapeutisch"),
    "ther": N_("Therapieplanung"),
}
#: What changed since the previous agenda version.
CHANGE_LABELS: dict[AgendaChange, str] = {
    AgendaChange.ADDED: N_("neu angemeldet"),
    AgendaChange.MOVED_IN: N_("hierher verlegt"),
    AgendaChange.MOVED_OUT: N_("verlegt nach"),
    AgendaChange.WITHDRAWN: N_("zurückgezogen"),
    AgendaChange.EDITED: N_("geändert"),
}


def imaging_label(summary: ImagingSummary | None, locale: str = "de") -> str:
    """One line for the agenda's imaging column: state, image count, partner, study date and description."""
    if summary is None or summary.state == "none":
        return NO_VALUE
    if summary.state == "expected":
        return translate(N_("Bilder erwartet"), locale)
    if summary.state == "receiving":
        head = translate_plural(
            "Empfang läuft (%(num)s Bild)", "Empfang läuft (%(num)s Bilder)", summary.instance_count, locale
        )
    elif summary.state == "complete":
        head = translate_plural(
            "vollständig (vorläufig), %(num)s Bild",
            "vollständig (vorläufig), %(num)s Bilder",
            summary.instance_count,
            locale,
        )
    else:
        return translate(N_("Bilder gelöscht (Aufbewahrungsfrist abgelaufen)"), locale)
    details = [
        summary.partner or "",
        summary.study_date.strftime("%d.%m.%Y") if summary.study_date else "",
        summary.study_description,
    ]
    return ", ".join([head, *[d for d in details if d]])


#: Pixels of a printed preview's longer side: printed 10 mm wide, that is about 160 dpi.
PRINT_PREVIEW_PX = 64


@dataclass(frozen=True)
class AgendaPreview:
    """One series on the printed agenda: its preview as a ``data:`` URI, or why there is none."""

    label: str
    src: str | None
    note: str


@dataclass(frozen=True)
class AgendaRow:
    """One printed line: the entry plus its translated labels."""

    entry: AgendaEntry
    type_label: str
    change_label: str
    imaging: str
    gone: bool  #: moved out or withdrawn: printed struck through, with its note
    previews: tuple[AgendaPreview, ...] = ()


def agenda_previews(summary: ImagingSummary | None, store: Spool, locale: str = "de") -> tuple[AgendaPreview, ...]:
    """The series previews of one case, embedded (WeasyPrint fetches nothing); purged images show none."""
    if summary is None or summary.state not in ("receiving", "complete"):
        return ()
    previews = []
    for p in summary.previews:
        src = preview_data_uri(store, p, max_px=PRINT_PREVIEW_PX)
        if src is not None:
            note = ""
        elif p.preview_error:
            note = translate(N_("keine Vorschau: %(reason)s"), locale, reason=p.preview_error)
        else:
            note = translate(N_("Vorschau folgt"), locale)
        label = f"{p.label} · {p.instance_count}"
        previews.append(AgendaPreview(label=label, src=src, note=note))
    return tuple(previews)


def agenda_rows(
    agenda: Agenda,
    *,
    locale: str = "de",
    imaging: Mapping[int, ImagingSummary] | None = None,
    imaging_store: Spool | None = None,
) -> list[AgendaRow]:
    """``imaging_store`` (the image store) adds each case's series previews."""
    rows = []
    for e in agenda.entries:
        summary = imaging.get(e.case_id) if imaging is not None else None
        gone = e.change is not None and e.change.gone
        rows.append(
            AgendaRow(
                entry=e,
                type_label=translate(TYPE_LABELS[e.conference_type], locale)
                if e.conference_type in TYPE_LABELS
                else e.conference_type,
                change_label=translate(CHANGE_LABELS[e.change], locale) if e.change is not None else "",
                imaging=imaging_label(summary, locale),
                gone=gone,
                previews=agenda_previews(summary, imaging_store, locale)
                if imaging_store is not None and not gone
                else (),
            )
        )
    return rows


def render_agenda_html(
    agenda: Agenda,
    *,
    templates: ExportTemplates,
    generated_at: dt.datetime,
    locale: str = "de",
    imaging: Mapping[int, ImagingSummary] | None = None,
    imaging_store: Spool | None = None,
) -> str:
    return templates.render(
        "exports/pdf/agenda.html",
        locale=locale,
        agenda=agenda,
        rows=agenda_rows(agenda, locale=locale, imaging=imaging, imaging_store=imaging_store),
        generated_at=generated_at,
    )


def render_agenda_pdf(
    agenda: Agenda,
    *,
    templates: ExportTemplates,
    generated_at: dt.datetime,
    locale: str = "de",
    imaging: Mapping[int, ImagingSummary] | None = None,
    imaging_store: Spool | None = None,
) -> bytes:
    """The agenda as an A4 (landscape) PDF/A-3b: session facts, then the cases in order with late and change marks,
    imaging state and (with ``imaging_store``) a preview per series, "Stand: <time>, Version <n>" (or
    "Entwurf") and "Seite X von Y" on every page."""
    html = render_agenda_html(
        agenda,
        templates=templates,
        generated_at=generated_at,
        locale=locale,
        imaging=imaging,
        imaging_store=imaging_store,
    )
    return render_pdf(html)


CSV_HEADER = (
    N_("Nr."),
    N_("Patient"),
    N_("Geburtsdatum"),
    N_("ICD-10"),
    N_("Diagnose"),
    N_("TNM"),
    N_("ECOG"),
    N_("Art"),
    N_("Fragestellung"),
    N_("Vorstellung"),
    N_("Bildgebung"),
    N_("Fehlt"),
    N_("Nachmeldung"),
    N_("Änderung"),
    N_("Hinweis"),
)


def render_agenda_csv(
    agenda: Agenda, *, locale: str = "de", imaging: Mapping[int, ImagingSummary] | None = None
) -> bytes:
    """The agenda's case table as CSV for German Excel (UTF-8 with BOM, ``;``, CRLF), formula-safe."""
    yes = translate(N_("ja"), locale)
    rows = [
        [
            row.entry.number,
            row.entry.patient_name,
            format_birthdate(row.entry.birth_date),
            row.entry.icd10,
            row.entry.icd10_text,
            row.entry.tnm,
            "" if row.entry.ecog is None else row.entry.ecog,
            row.type_label,
            row.entry.question,
            row.entry.presenter,
            row.imaging,
            ", ".join(row.entry.missing),
            yes if row.entry.late else "",
            row.change_label,
            row.entry.note,
        ]
        for row in agenda_rows(agenda, locale=locale, imaging=imaging)
    ]
    return render_csv(rows, header=[translate(h, locale) for h in CSV_HEADER])
