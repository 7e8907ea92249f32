"""Issue 13: the agenda's columns are balanced for the question, with TNM, ECOG and a "fehlt" column from the
board's checklist, in the page's words ("Art", not "Typ"). A 17-case session with questions of everyday length took
three pages with the old columns; it now takes fewer."""

from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader

from tests.cases.factories import make_patient, register, upcoming_sessions
from tests.exports.test_agenda_export import TEMPLATES, pdftotext
from tests.factories import make_board, make_user
from tumorboard.cases.agenda import current_agenda
from tumorboard.exports.agenda import render_agenda_pdf
from tumorboard.imaging.summaries import ImagingSummary

QUESTIONS = (
    "Neoadjuvante Radiochemotherapie vor Resektion oder primäre Operation? Bitte Stellungnahme zur Studienteilnahme.",
    "Nach R0-Resektion pT3 pN1 (2/18): adjuvante Chemotherapie nach FOLFOX oder CAPOX, Dauer 3 oder 6 Monate?",
    "Lebermetastasen in Segment VII und VIII: sekundäre Resektabilität nach Systemtherapie? Thermoablation?",
)


def _seventeen(db_session, at):
    board = make_board(db_session, at, name="Viszeralonkologisches Zentrum West", short_name="Viszeral-West")
    physician = make_user(db_session, at, role="physician")
    first = upcoming_sessions(db_session, board, at)[0]
    rows = [
        register(
            db_session,
            board,
            at=at,
            by=physician,
            target=first,
            patient=make_patient(db_session, at, f"Mustermann-{i:02d}", "Erika", dt.date(1940 + i, 1, 1 + i)),
            presenter_id=physician.id,
            question=QUESTIONS[i % 3],
            tnm="cT3 cN1 cM0" if i % 2 == 0 else None,
            ecog=i % 3,
            icdo_morphology="8140/3" if i % 2 == 0 else None,
            imaging_expected=i % 4 == 0,
        )
        for i in range(17)
    ]
    return first, rows


def test_a_17_case_agenda_fits_on_two_pages_with_tnm_ecog_and_what_is_missing(db_session, clock):
    first, rows = _seventeen(db_session, clock.now())
    agenda = current_agenda(db_session, first, at=clock.now())
    imaging = {
        c.id: ImagingSummary(case_id=c.id, imaging_expected=True, state="expected") for c in rows if c.imaging_expected
    }
    pdf = render_agenda_pdf(agenda, templates=TEMPLATES, generated_at=clock.now(), imaging=imaging)
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert pages <= 2, pages
    text = " ".join(pdftotext(pdf).split())
    assert "cT3 cN1 cM0" in text and "ECOG 2" in text
    assert "Fehlt" in text and "Histologie liegt vor" in text
    assert "Art" in text and " Typ " not in f" {text} "
