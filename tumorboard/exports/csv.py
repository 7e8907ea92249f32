"""CSV for German spreadsheets, safe against formula injection — a pure renderer: rows in, bytes out.

Format: UTF-8 with BOM (so Excel detects the encoding), ``;`` as delimiter (German Excel uses ``,`` as the decimal
separator), CRLF line ends, fields quoted only where needed (RFC 4180).

Formula injection (OWASP "CSV Injection", CWE-1236): a spreadsheet evaluates a cell beginning with ``=``, ``+``,
``-`` or ``@`` as a formula, and a leading tab or carriage return can hide such a character. Every cell whose text
begins with one of these — also after leading spaces, which some programs skip — is prefixed with an apostrophe,
so it shows as text. This applies to every cell, including numbers written as text; pass ints for numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

#: Leading characters that make a spreadsheet cell a formula (or can hide one).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralize(value: object) -> str:
    """The cell text for ``value``: ``None`` → empty; ints and floats as they are; any text that a spreadsheet
    could take for a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise TypeError("write booleans as words (ja/nein), not True/False")
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text.lstrip(" ").startswith(FORMULA_START):
        return "'" + text
    return text


def render_csv(rows: Iterable[Sequence[object]], *, header: Sequence[str] | None = None) -> bytes:
    """Write ``header`` and ``rows`` as CSV bytes (UTF-8 with BOM, ``;``, CRLF), every cell neutralized."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", quotechar='"', lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    if header is not None:
        writer.writerow([neutralize(h) for h in header])
    for row in rows:
        writer.writerow([neutralize(cell) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")
