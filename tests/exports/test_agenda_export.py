"""Agenda as PDF/A-3b and CSV (issue 3): order, umlauts, late and change marks, versions, formula safety."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess

import pytest
from pypdf import PdfReader

from tests.cases.factories import make_patient, register, upcoming_sessions
from tests.factories import make_board, make_user
from tumorboard.auth.actors import SCHEDULER
from tumorboard.auth.services import actor_for
from tumorboard.cases import services as cases
from tumorboard.cases.agenda import current_agenda, freeze_due_agendas
from tumorboard.exports.agenda import render_agenda_csv, render_agenda_html, render_agenda_pdf
from tumorboard.exports.pdf import PdfRenderError, render_pdf
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.imaging.summaries import ImagingSummary

#: The export environments, as bootstrap builds them for a process.
TEMPLATES = ExportTemplates()

DEADLINE = dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.UTC)  # Mon 12:00 Berlin, for Tue 24.11.2026 15:15
LONG_QUESTION = (
    "Nach Hemikolektomie rechts und adjuvanter Chemotherapie nun Lebermetastase in Segment VII (2,1 cm). "
    "Lokale Therapie (Resektion oder Thermoablation) oder Systemtherapie? Bitte auch Stellungnahme zur "
    "Tumorgenetik (RAS/BRAF, MSI) und zur Einbindung in eine Studie."
)


def pdftotext(pdf: bytes, *args: str) -> str:
    return subprocess.run(["pdftotext", *args, "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


@pytest.fixture
def session_with_cases(db_session, clock):
    at = clock.now()
    board = make_board(db_session, at, name="Viszeralonkologisches Zentrum Süd", short_name="Viszeral-Süd")
    physician = make_user(db_session, at, role="physician")
    coordinator = make_user(db_session, at, role="coordinator")
    first, second, *_ = upcoming_sessions(db_session, board, at)
    people = [("Müller", "Jürgen"), ("Özdemir", "Ayşe"), ("Weiß", "Käthe"), ("=HYPERLINK(1)", "Eve")]
    registered = [
        register(
            db_session,
            board,
            at=at,
            by=physician,
            patient=make_patient(db_session, at, family, given, dt.date(1950 + i, 3, 9)),
            presenter_id=physician.id,
            question=LONG_QUESTION if i == 1 else f"Weiteres Vorgehen bei Fall {i + 1}?",
            conference_type=("praeth", "postop", "postth", "ther")[i],
        )
        for i, (family, given) in enumerate(people)
    ]
    return board, physician, coordinator, first, second, registered


def test_pdf_shows_session_and_cases_in_order_with_umlauts(db_session, clock, session_with_cases):
    _, _, coordinator, first, _, registered = session_with_cases
    mueller, oezdemir, weiss, eve = registered
    cases.reorder_cases(
        db_session, first, [weiss.id, mueller.id, eve.id, oezdemir.id], at=clock.now(), actor=actor_for(coordinator)
    )
    agenda = current_agenda(db_session, first, at=clock.now())
    pdf = render_agenda_pdf(
        agenda,
        templates=TEMPLATES,
        generated_at=clock.now(),
        imaging={
            mueller.id: ImagingSummary(
                case_id=mueller.id,
                imaging_expected=True,
                state="complete",
                instance_count=312,
                partner="Klinikum Nord",
                study_date=dt.date(2026, 11, 20),
                study_description="CT Thorax",
            )
        },
    )
    text = pdftotext(pdf, "-layout")
    flat = " ".join(text.split())
    assert "Tagesordnung · Viszeralonkologisches Zentrum Süd" in flat
    assert "Dienstag, 24.11.2026, 15:15–16:15 Uhr" in flat
    assert "Raum 1" in flat and "https://video.example.org/t" in flat
    assert "Stand: 23.11.2026, 09:00, Entwurf" in flat  # not frozen yet
    assert "Seite 1 von 1" in flat
    positions = [text.index(name) for name in ("Weiß, Käthe", "Müller, Jürgen", "=HYPERLINK(1), Eve", "Özdemir, Ayşe")]
    assert positions == sorted(positions)
    assert "geb. 09.03.1952" in flat  # TT.MM.JJJJ
    assert "C18.7 Bösartige Neubildung: Colon sigmoideum" in " ".join(pdftotext(pdf).split())
    for label in ("prätherapeutisch", "postoperativ", "posttherapeutisch", "Therapieplanung"):
        assert label in flat
    # the imaging cell wraps inside its column, so check its parts; "—" for the cases without imaging data
    assert all(part in flat for part in ("vollständig", "312", "Klinikum", "Thorax")) and "—" in flat
    assert "Einbindung in eine Studie." in flat  # the long question wraps, nothing is cut
    assert "Nachmeldung" not in flat


def test_late_case_and_versions_in_pdf_and_csv(db_session, clock, session_with_cases):
    board, _, coordinator, first, second, registered = session_with_cases
    mueller, _, weiss, _ = registered
    assert freeze_due_agendas(db_session, at=DEADLINE, actor=SCHEDULER) == 1
    v1 = current_agenda(db_session, first, at=DEADLINE)
    text = " ".join(pdftotext(render_agenda_pdf(v1, templates=TEMPLATES, generated_at=DEADLINE)).split())
    assert "Stand: 23.11.2026, 12:00, Version 1" in text

    late_at = DEADLINE + dt.timedelta(minutes=1)
    late = register(
        db_session,
        board,
        at=late_at,
        by=coordinator,
        target=first,
        patient=make_patient(db_session, late_at, "Groß", "Ludwig", dt.date(1944, 12, 31)),
    )
    assert late.is_late
    v2 = current_agenda(db_session, first, at=late_at)
    assert v2.version == 2
    text = " ".join(pdftotext(render_agenda_pdf(v2, templates=TEMPLATES, generated_at=late_at)).split())
    assert "Version 2" in text and "Nachmeldung" in text and "neu angemeldet" in text

    raw = render_agenda_csv(v2)
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    by_name = {r["Patient"]: r for r in rows}
    assert by_name["Groß, Ludwig"]["Nachmeldung"] == "ja"
    assert by_name["Groß, Ludwig"]["Änderung"] == "neu angemeldet"
    assert by_name["Groß, Ludwig"]["Geburtsdatum"] == "31.12.1944"
    assert by_name["Müller, Jürgen"]["Nachmeldung"] == ""

    # moved out and withdrawn: marked, with their note (struck through in the PDF)
    t = late_at + dt.timedelta(minutes=5)
    cases.move_case(db_session, mueller, second, reason="Befund fehlt", at=t, actor=actor_for(coordinator))
    v3 = current_agenda(db_session, first, at=t)
    html = render_agenda_html(v3, templates=TEMPLATES, generated_at=t)
    assert '<tr class="changed moved_out gone">' in html and "<del><strong>Müller, Jürgen</strong>" in html
    text = " ".join(pdftotext(render_agenda_pdf(v3, templates=TEMPLATES, generated_at=t)).split())
    assert "Version 3" in text and "verlegt nach" in text and "Viszeral-Süd 01.12.2026 15:15" in text
    cases.withdraw_case(db_session, weiss, reason="Therapie extern", at=t, actor=actor_for(coordinator))
    v4 = current_agenda(db_session, first, at=t)
    text = " ".join(pdftotext(render_agenda_pdf(v4, templates=TEMPLATES, generated_at=t)).split())
    assert "zurückgezogen „Therapie extern“" in text
    rows = list(csv.DictReader(io.StringIO(render_agenda_csv(v4).decode("utf-8-sig"), newline=""), delimiter=";"))
    gone = next(r for r in rows if r["Patient"] == "Weiß, Käthe")
    assert (gone["Nr."], gone["Änderung"], gone["Hinweis"]) == ("", "zurückgezogen", "Therapie extern")


def test_csv_opened_as_text_neutralizes_formula_name(db_session, clock, session_with_cases):
    *_, first, _, _ = session_with_cases
    raw = render_agenda_csv(current_agenda(db_session, first, at=clock.now()))
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8")
    assert "\r\n" in text and text.count("\n") == text.count("\r\n")
    lines = text.lstrip("\ufeff").split("\r\n")
    assert lines[0].startswith("Nr.;Patient;Geburtsdatum;ICD-10;Diagnose;TNM;ECOG;Art;Fragestellung")  # issue 13
    line = next(line for line in lines if "HYPERLINK" in line)
    assert line.startswith("4;'=HYPERLINK(1), Eve;")
    assert ";=" not in text  # no cell anywhere starts with a formula
    assert "Müller, Jürgen" in text and "Özdemir, Ayşe" in text


def test_english_agenda(db_session, clock, session_with_cases):
    *_, first, _, _ = session_with_cases
    agenda = current_agenda(db_session, first, at=clock.now())
    text = " ".join(
        pdftotext(render_agenda_pdf(agenda, templates=TEMPLATES, generated_at=clock.now(), locale="en")).split()
    )
    assert "Agenda" in text and "Page 1 of 1" in text and "As of 23.11.2026, 09:00, draft" in text
    assert "Tuesday, 24.11.2026" in text and "post-operative" in text
    header = render_agenda_csv(agenda, locale="en").decode("utf-8-sig").split("\r\n")[0]
    assert header.startswith("No.;Patient;Date of birth")


def test_pdf_is_pdf_a_3b_with_metadata_and_embedded_fonts(db_session, clock, session_with_cases):
    *_, first, _, _ = session_with_cases
    pdf = render_agenda_pdf(
        current_agenda(db_session, first, at=clock.now()), templates=TEMPLATES, generated_at=clock.now()
    )
    info = subprocess.run(["pdfinfo", "-meta", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert 'pdfaid:part="3"' in info and 'pdfaid:conformance="B"' in info
    assert "Tagesordnung – Viszeralonkologisches Zentrum Süd – 24.11.2026" in info
    reader = PdfReader(io.BytesIO(pdf))
    catalog = reader.trailer["/Root"]
    assert catalog["/Lang"] == "de"
    assert "/OutputIntents" in catalog and "/Metadata" in catalog
    assert reader.pages[0].mediabox.width > reader.pages[0].mediabox.height  # A4 landscape
    assert round(float(reader.pages[0].mediabox.width) / 72 * 25.4) == 297
    fonts = subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    font_lines = fonts.splitlines()[2:]
    assert font_lines and all("DejaVu-Sans" in line and " yes yes " in line for line in font_lines)  # embedded, subset


def test_many_cases_paginate_with_page_numbers(db_session, clock):
    at = clock.now()
    board = make_board(db_session, at)
    physician = make_user(db_session, at, role="physician")
    first, *_ = upcoming_sessions(db_session, board, at)
    for i in range(40):
        register(
            db_session,
            board,
            at=at,
            by=physician,
            patient=make_patient(db_session, at, f"Schröder{i:02d}", "Björn"),
            question=LONG_QUESTION,
        )
    pdf = render_agenda_pdf(current_agenda(db_session, first, at=at), templates=TEMPLATES, generated_at=at)
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert pages > 2
    text = pdftotext(pdf)
    assert f"Seite 1 von {pages}" in text and f"Seite {pages} von {pages}" in text
    assert text.count("Stand: 23.11.2026, 09:00, Entwurf") >= pages  # header once, footer on every page
    positions = [text.index(f"Schröder{i:02d}") for i in range(40)]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    "resource",
    [
        '<img src="http://127.0.0.1:9/x.png">',
        '<link rel="stylesheet" href="https://example.org/x.css">',
        '<img src="file:///etc/hostname">',
        '<img src="../pyproject.toml">',
    ],
)
def test_url_fetcher_refuses_everything_but_static_and_data(resource):
    with pytest.raises(PdfRenderError, match="refused"):
        render_pdf(f'<html lang="de"><head><title>x</title></head><body>{resource}</body></html>')


def test_url_fetcher_serves_static_files_and_data_urls():
    pixel = (
        "data:image/png;base64,"
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    )
    pdf = render_pdf(
        f'<html lang="de"><head><title>x</title><link rel="stylesheet" href="style.css"></head>'
        f'<body><p>Grüße</p><img src="{pixel}"></body></html>'
    )
    assert "Grüße" in pdftotext(pdf)


@pytest.mark.parametrize(
    ("state", "count", "locale", "expected"),
    [
        ("receiving", 1, "de", "Empfang läuft (1 Bild), Klinikum Nord"),
        ("receiving", 2, "de", "Empfang läuft (2 Bilder), Klinikum Nord"),
        ("complete", 1, "de", "vollständig (vorläufig), 1 Bild, Klinikum Nord"),
        ("complete", 312, "de", "vollständig (vorläufig), 312 Bilder, Klinikum Nord"),
        ("receiving", 1, "en", "receiving (1 image), Klinikum Nord"),
        ("complete", 312, "en", "complete (provisional), 312 images, Klinikum Nord"),
    ],
)
def test_imaging_label_counts_images_in_singular_and_plural(state, count, locale, expected):
    from tumorboard.exports.agenda import imaging_label

    summary = ImagingSummary(
        case_id=1, imaging_expected=True, state=state, instance_count=count, partner="Klinikum Nord"
    )
    assert imaging_label(summary, locale) == expected
