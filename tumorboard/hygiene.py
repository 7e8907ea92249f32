"""Input hygiene for names and free text, one rule for every entry point.

Refused everywhere: NUL and the other C0 control characters (tab, line feed and carriage return only in multi-line
text), DEL and the C1 controls (U+007F–U+009F), and the bidirectional embedding, override and isolate controls
(U+202A–U+202E, U+2066–U+2069; "Trojan Source", CVE-2021-42574), which make a name or a recommendation read
differently on screen than it is stored. Also refused: the invisible characters that make two names look equal
but compare different, or split one line in CSV, iCalendar and JavaScript — zero width space U+200B, the
left-to-right/right-to-left marks U+200E/U+200F and the Arabic letter mark U+061C, the line and paragraph
separators U+2028/U+2029, the word joiner U+2060 and a byte order mark U+FEFF inside text (zero width
(non-)joiners U+200C/U+200D stay: Persian and Indic names need them). PostgreSQL cannot store NUL in text at
all; ESC sequences reach terminals and logs. Forms check with :class:`tumorboard.forms.CleanText`, services
with :func:`check_text`, so the CLI and imports are held to the same rule.
"""

from __future__ import annotations

import re

from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_

_BIDI = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
#: Invisible characters and the Unicode line and paragraph separators.
_INVISIBLE = "\u200b\u2028\u2029\u2060\ufeff"
#: Single-line values: every C0 and C1 control, DEL, the bidi controls and marks, the invisible characters.
FORBIDDEN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}]")
#: Multi-line text additionally allows tab, line feed and carriage return.
FORBIDDEN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}]")

MESSAGE = N_(
    "Die Eingabe enthält unzulässige Steuerzeichen (z. B. Nullbyte, Escape-Zeichen oder Zeichen zur Umkehr der "
    "Schreibrichtung). Bitte ohne diese Zeichen eingeben."
)


def is_clean(value: str, *, multiline: bool = False) -> bool:
    return (FORBIDDEN_TEXT if multiline else FORBIDDEN_LINE).search(value) is None


def check_text(value: str | None, *, field: str, multiline: bool = False) -> None:
    """Raise :class:`InvalidInput` (German, naming ``field``) if ``value`` holds a forbidden character."""
    if value and not is_clean(value, multiline=multiline):
        raise InvalidInput(MESSAGE, field=field)
