"""The CSV writer: German Excel format and OWASP CSV-injection neutralization."""

from __future__ import annotations

import csv
import io

import pytest

from tumorboard.exports.csv import neutralize, render_csv


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil";"x")', '\'=HYPERLINK("http://evil";"x")'),
        ("+49 201 723", "'+49 201 723"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("  =1+1", "'  =1+1"),
        ("Müller-Lüdenscheidt", "Müller-Lüdenscheidt"),
        ("C18.7", "C18.7"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (7, "7"),
        (-3, "-3"),
    ],
)
def test_neutralize(value, expected):
    assert neutralize(value) == expected


def test_booleans_must_be_words():
    with pytest.raises(TypeError):
        neutralize(True)


def test_format_bom_semicolon_crlf_and_quoting():
    raw = render_csv(
        [[1, "=Böse; GmbH", "Zeile 1\nZeile 2", 'sagt „Hallo“ und "Tschüss"'], [2, "Weiß", "", None]],
        header=["Nr.", "Name", "Text", "Zitat"],
    )
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert text.startswith("Nr.;Name;Text;Zitat\r\n")
    assert text.endswith("\r\n")
    # the delimiter inside a cell is quoted; the formula is neutralized inside the quotes
    assert '"\'=Böse; GmbH"' in text
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert rows == [
        ["Nr.", "Name", "Text", "Zitat"],
        ["1", "'=Böse; GmbH", "Zeile 1\nZeile 2", 'sagt „Hallo“ und "Tschüss"'],
        ["2", "Weiß", "", ""],
    ]
    # no cell of the file starts with a formula character
    assert not any(cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)
