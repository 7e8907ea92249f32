"""Name folding for search and matching: Müller = Mueller = MUELLER, Weiß = Weiss, Ayşe = Ayse."""

from __future__ import annotations

import re
import unicodedata

_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue", "ẞ": "ss"})


def fold(text: str) -> str:
    """Lower case, German umlauts spelled out, other accents dropped, punctuation to single spaces."""
    spelled = text.translate(_GERMAN)
    stripped = "".join(c for c in unicodedata.normalize("NFKD", spelled) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", stripped.lower().replace("ı", "i")).split())


def name_key(family: str, given: str) -> str:
    return f"{fold(family)} {fold(given)}".strip()
