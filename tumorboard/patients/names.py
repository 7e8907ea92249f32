"""Name folding for search and matching: Müller = Mueller = MUELLER, Weiß = Weiss, Ayşe = Ayse, Paweł = Pawel,
whatever Unicode form the text came in (macOS and some keyboards send NFD: "u" + combining diaeresis).

Latin letters are folded to ASCII (German umlauts spelled out, other accents dropped, letters without a
decomposition such as ł, ø, đ, æ transliterated by ``anyascii``); letters of other scripts (Greek, Cyrillic,
Arabic, Hebrew, Chinese …) stay, case-folded, so that 王芳 finds 王芳 without being mistaken for another name
that sounds alike — the key is also used to match DICOM names to patients (imaging/services.py).
"""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii

_NOT_ASCII_ALNUM = re.compile(r"[^0-9a-z]+")
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ẞ": "SS"})


def spell_out(text: str) -> str:
    """German umlauts spelled out, other accents dropped, case kept: Müller → Mueller, Ayşe → Ayse (also from NFD)."""
    spelled = unicodedata.normalize("NFC", text).translate(_GERMAN)
    return "".join(c for c in unicodedata.normalize("NFKD", spelled) if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lower case, German umlauts spelled out, other Latin letters in ASCII without accents, letters of other
    scripts case-folded with their marks kept (a kana's voicing, a Devanagari vowel sign), everything else
    (punctuation, DICOM's ^ and =) to single spaces. NFKC first: NFD input and full-width letters fold alike."""
    out: list[str] = []
    latin = False  # a combining mark that did not compose with a Latin letter is an accent: dropped
    for ch in unicodedata.normalize("NFKC", text).translate(_GERMAN):
        if ch.isascii():
            out.append(ch.lower() if ch.isalnum() else " ")
            latin = ch.isalpha()
        elif "LATIN" in unicodedata.name(ch, ""):
            out.append(_NOT_ASCII_ALNUM.sub(" ", anyascii(ch).lower()))  # ł → l, ø → o, đ → d, æ → ae, ı → i
            latin = True
        elif unicodedata.category(ch).startswith("M"):
            out.append("" if latin else ch)
        elif ch.isalnum():
            out.append(ch.casefold())
            latin = False
        else:
            out.append(" ")
            latin = False
    return " ".join("".join(out).split())


def name_key(family: str, given: str) -> str:
    return f"{fold(family)} {fold(given)}".strip()
