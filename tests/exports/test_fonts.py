"""Every name the product accepts prints legibly in every PDF, or the PDF does not claim PDF/A (issue 12, point 6).

The names are those of pydicom's character set test files (what partners' DICOM carries: Japanese, Korean,
Chinese, Arabic, Hebrew, Greek, Cyrillic, Latin-1); the fonts come from Debian (Makefile: fonts-noto-core,
fonts-noto-cjk next to fonts-dejavu-core).
"""

from __future__ import annotations

import logging
import subprocess

import pytest
from pydicom import dcmread
from pydicom.data import get_charset_files

from tests.cases.factories import make_patient, register, upcoming_sessions
from tests.factories import make_board, make_user
from tumorboard.cases.agenda import current_agenda
from tumorboard.exports.agenda import render_agenda_pdf
from tumorboard.exports.rendering import ExportTemplates

TEMPLATES = ExportTemplates()


def _charset_names() -> list[str]:
    names = []
    for path in sorted(get_charset_files("chr*.dcm")):
        value = dcmread(path).get("PatientName")
        if value is not None and str(value) not in ("", "None"):
            names.append(str(value))
    return names


NAMES = _charset_names()


def _agenda_pdf(db_session, clock, names: list[str]) -> bytes:
    at = clock.now()
    board = make_board(db_session, at)
    physician = make_user(db_session, at, role="physician")
    first, *_ = upcoming_sessions(db_session, board, at)
    for name in names:
        family, _, given = name.partition("^")
        patient = make_patient(db_session, at, family.replace("=", " ")[:120], (given or "-").replace("=", " ")[:120])
        register(db_session, board, at=at, by=physician, patient=patient)
    return render_agenda_pdf(current_agenda(db_session, first, at=at), templates=TEMPLATES, generated_at=at)


def claims_pdf_a(pdf: bytes) -> bool:
    meta = subprocess.run(["pdfinfo", "-meta", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return 'pdfaid:part="3"' in meta


def _text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def test_the_names_of_pydicoms_charset_files_print_and_the_pdf_stays_pdf_a(db_session, clock, caplog):
    assert len(NAMES) >= 14 and any("山田" in n for n in NAMES) and any("김희중" in n for n in NAMES)
    with caplog.at_level(logging.WARNING):
        pdf = _agenda_pdf(db_session, clock, NAMES)
    assert [r.getMessage() for r in caplog.records if "notdef" in r.getMessage()] == []
    assert claims_pdf_a(pdf)  # still PDF/A-3b
    text = _text(pdf)
    for word in ("山田", "太郎", "やまだ", "김희중", "홍", "王", "小東", "小东", "Διονυσιος", "Люкceмбypг", "Äneas"):
        assert word in text, word


def test_a_name_no_font_can_print_makes_a_pdf_that_does_not_claim_pdf_a(db_session, clock, caplog):
    unprintable = "Test\U0010fffd"  # a private-use character: no font anywhere has it
    with caplog.at_level(logging.WARNING, logger="tumorboard.exports.pdf"):
        pdf = _agenda_pdf(db_session, clock, [f"{unprintable}^Anna"])
    assert pdf.startswith(b"%PDF-") and not claims_pdf_a(pdf)
    assert "without the PDF/A claim: 1 characters" in caplog.text
    assert unprintable not in caplog.text and "Anna" not in caplog.text


@pytest.mark.parametrize("name", ["Müller^Jürgen", "Buc^Jérôme"])
def test_latin_names_keep_pdf_a(db_session, clock, name):
    assert claims_pdf_a(_agenda_pdf(db_session, clock, [name]))
