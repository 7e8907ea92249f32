"""Tables that break well (issue 12, point 7): a long row starts on the page it belongs to and splits, the column
headings repeat on every page. Read back page by page with poppler's pdftotext."""

from __future__ import annotations

import subprocess

from pypdf import PdfReader

from tests.cases.factories import make_patient, register, upcoming_sessions
from tests.factories import make_board, make_user
from tumorboard.cases.agenda import current_agenda
from tumorboard.exports.agenda import render_agenda_pdf
from tumorboard.exports.rendering import ExportTemplates

TEMPLATES = ExportTemplates()
SENTENCE = "Verlauf unter Therapie mit Progress in Leber und Lunge, Befund {n} der Vorgeschichte. "


def _page(pdf: bytes, number: int) -> str:
    args = ["pdftotext", "-f", str(number), "-l", str(number), "-", "-"]
    return subprocess.run(args, input=pdf, capture_output=True, check=True).stdout.decode()


def test_a_question_of_3900_characters_starts_on_page_one_and_every_page_has_the_headings(db_session, clock):
    at = clock.now()
    board = make_board(db_session, at)
    physician = make_user(db_session, at, role="physician")
    first, *_ = upcoming_sessions(db_session, board, at)
    question = "".join(SENTENCE.format(n=n) for n in range(1, 60))[:3900]
    assert len(question) == 3900
    register(db_session, board, at=at, by=physician, patient=make_patient(db_session, at, "Kurz", "Anna"))
    register(db_session, board, at=at, by=physician, question=question,
             patient=make_patient(db_session, at, "Lang", "Berta"))  # fmt: skip
    register(db_session, board, at=at, by=physician, patient=make_patient(db_session, at, "Danach", "Clara"))
    pdf = render_agenda_pdf(current_agenda(db_session, first, at=at), templates=TEMPLATES, generated_at=at)
    pages = len(PdfReader(__import__("io").BytesIO(pdf)).pages)
    assert pages >= 2
    texts = [_page(pdf, n) for n in range(1, pages + 1)]
    assert "Befund 1 der" in texts[0] and "Lang" in texts[0]  # the long row starts on page 1
    for n, text in enumerate(texts, start=1):
        assert "Fragestellung" in text and "Bildgebung" in text, f"page {n} without column headings"
    assert "Danach" in texts[-1]
