"""Text at the boundary: every name, room, link and free text the product accepts passes through here once.

One bad value must not travel: a video link with an embedded CR LF broke every calendar feed (issue 12, point 3),
because RFC 5545 lines end at CR LF and icalendar refuses such a URI. So single-line values refuse control
characters where they enter, with a German message; multi-line free text keeps its line breaks (as LF) and loses
nothing else silently.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_

#: Unicode categories that never belong in a name, room or link: controls (C0, DEL, C1 — CR and LF among them)
#: and the line/paragraph separators U+2028/U+2029, which some clients treat as line ends.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
#: Bidirectional embedding, override and isolate controls ("Trojan Source", CVE-2021-42574): a name or a
#: recommendation would read differently on screen than it is stored. (Other format characters, such as the zero
#: width joiner that some scripts need, stay allowed.)
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
#: Invisible characters that make two names look the same ("Müller" and "Mül<ZWSP>ler" would be two patients to
#: the duplicate check). The zero width (non-)joiner U+200C/U+200D stay allowed: Persian and Indic names need them.
_INVISIBLE = frozenset("\u200b\u2060\ufeff")
_NEVER = _BIDI_CONTROLS | _INVISIBLE
_LINE_BREAKS = re.compile(r"\r\n|\r|\u2028|\u2029|\x85")


def nfc(value: str) -> str:
    """The composed form (NFC) that search, keys and comparisons rely on."""
    return unicodedata.normalize("NFC", value)


def has_control_characters(value: str, *, multiline: bool = False) -> bool:
    allowed = {"\n", "\t"} if multiline else set()
    return any(
        ch not in allowed and (unicodedata.category(ch) in _FORBIDDEN_CATEGORIES or ch in _NEVER) for ch in value
    )


def without_control_characters(value: str) -> str:
    """For output of values stored before validation existed: controls become spaces, nothing else changes."""
    return "".join(" " if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES else ch for ch in value)


def single_line(value: str, *, field: str, label: str, limit: int, required: bool = False) -> str:
    """NFC, trimmed, without control characters (CR, LF, TAB, NUL …), at most ``limit`` characters."""
    text = nfc(value).strip()
    if has_control_characters(text):
        raise InvalidInput(
            N_("%(label)s darf keine Zeilenumbrüche oder Steuerzeichen enthalten."), field=field, label=label
        )
    if required and not text:
        raise InvalidInput(N_("Bitte %(label)s angeben."), field=field, label=label)
    if len(text) > limit:
        raise InvalidInput(
            N_("%(label)s darf höchstens %(limit)s Zeichen lang sein."), field=field, label=label, limit=limit
        )
    return text


def normalize_line_breaks(value: str) -> str:
    """CR LF, CR, NEL and the Unicode separators become LF (browsers send CR LF from a textarea)."""
    return _LINE_BREAKS.sub("\n", value)


def free_text(value: str, *, field: str, label: str, limit: int) -> str:
    """Multi-line text (reasons, notes): NFC, line breaks as LF, trimmed; other control characters refused."""
    text = normalize_line_breaks(nfc(value)).strip()
    if has_control_characters(text, multiline=True):
        raise InvalidInput(N_("%(label)s darf keine Steuerzeichen enthalten."), field=field, label=label)
    if len(text) > limit:
        raise InvalidInput(
            N_("%(label)s darf höchstens %(limit)s Zeichen lang sein."), field=field, label=label, limit=limit
        )
    return text


def https_url(value: str, *, field: str, label: str, limit: int = 500) -> str:
    """An absolute https:// link with a host, without spaces, control characters or credentials; "" stays ""."""
    text = single_line(value, field=field, label=label, limit=limit)
    if not text:
        return ""
    if not text.lower().startswith("https://"):
        raise InvalidInput(N_("Der Videolink muss mit https:// beginnen."), field=field)
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise InvalidInput(N_("%(label)s ist keine gültige Adresse."), field=field, label=label) from exc
    if any(ch.isspace() for ch in text) or not parts.hostname or parts.username or parts.password:
        raise InvalidInput(N_("%(label)s ist keine gültige Adresse."), field=field, label=label)
    return text


#: A row id fits a signed 64-bit integer; 18 decimal digits always do. SQLite refuses a larger Python int with an
#: OverflowError (a bare 500), and ``str.isdigit`` is true for "²" or "٣", which ``int`` refuses or reads.
MAX_ID_DIGITS = 18
MAX_ID = 10**MAX_ID_DIGITS - 1


def ascii_digits(value: str) -> bool:
    """True for a non-empty string of the ASCII digits 0–9 only (not "²", not Arabic-Indic digits)."""
    return bool(value) and value.isascii() and value.isdigit()


def parse_id(raw: object) -> int | None:
    """A row id (or another small number) as a user sent it: ASCII digits, at most ``MAX_ID_DIGITS``; else None."""
    text = str(raw).strip() if raw is not None else ""
    if not ascii_digits(text) or len(text) > MAX_ID_DIGITS:
        return None
    return int(text)
