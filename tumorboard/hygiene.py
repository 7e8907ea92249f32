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

from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_
from tumorboard.text import has_control_characters

MESSAGE = N_(
    "Die Eingabe enthält unzulässige Steuerzeichen (z. B. Nullbyte, Escape-Zeichen oder Zeichen zur Umkehr der "
    "Schreibrichtung). Bitte ohne diese Zeichen eingeben."
)


def is_clean(value: str, *, multiline: bool = False) -> bool:
    """The one rule of :mod:`tumorboard.text` (multi-line text may end its lines with CR LF, as browsers send)."""
    if multiline:  # browsers end lines with CR LF; U+2028/U+2029 are refused, not taken as line ends
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return not has_control_characters(value, multiline=multiline)


def check_text(value: str | None, *, field: str, multiline: bool = False) -> None:
    """Raise :class:`InvalidInput` (German, naming ``field``) if ``value`` holds a forbidden character."""
    if value and not is_clean(value, multiline=multiline):
        raise InvalidInput(MESSAGE, field=field)
