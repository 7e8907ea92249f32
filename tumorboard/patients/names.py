"""Name folding for search and matching: Müller = Mueller = MUELLER, Weiß = Weiss, Ayşe = Ayse."""

from __future__ import annotations

import re
import unicodedata

_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ẞ": "SS"})


def spell_out(text: str) -> str:
    """German umlauts spelled out, other accents dropped, case kept: Müller → Mueller, Ayşe → Ayse."""
    spelled = text.translate(_GERMAN)
    return "".join(c for c in unicodedata.normalize("NFKD", spelled) if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lower case, German umlauts spelled out, other accents dropped, punctuation to single spaces."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", spell_out(text).lower().replace("ı", "i")).split())


def name_key(family: str, given: str) -> str:
    return f"{fold(family)} {fold(given)}".strip()
