"""The English catalog keeps up with the code: every marked string is translated, placeholders match, and
:func:`tumorboard.i18n.translate` serves English from the compiled catalog.

Pure: no database, no Flask app. Messages are extracted afresh with the same mapping (``babel.cfg``) and the
same keywords as ``make translations-update``, so a string added without updating the catalog fails here.
Fix a failure with ``make translations-update`` and a translation in ``messages.po``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tumorboard import i18n

ROOT = Path(__file__).resolve().parent.parent
PO_FILE = i18n.TRANSLATIONS_DIR / "en" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[a-z]")


def _makefile_keywords() -> list[str]:
    """The ``-k`` keywords of the Makefile's extract command, so test and target cannot drift apart."""
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        if "pybabel" in line and " extract " in line:
            return re.findall(r"(?:-k|--keywords?)[= ]\s*(\S+)", line)
    raise AssertionError("Makefile has no `pybabel extract` command")


@cache
def extracted() -> Catalog:
    """What ``pybabel extract -F babel.cfg -k ... .`` would write, built with babel's Python API."""
    keywords = dict(DEFAULT_KEYWORDS)
    keywords.update(parse_keywords(_makefile_keywords()))
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    template = Catalog()
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        template.add(message, None, [(filename, lineno)], context=context)
    return template


@cache
def english() -> Catalog:
    with PO_FILE.open("rb") as po:
        return read_po(po, locale="en")


def _strings(message: Message) -> tuple[str, ...]:
    value = message.string
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, tuple | list) else (message.id,)


def _placeholders(text: str) -> set[str]:
    """``{"%(n)s", "%(time)s"}``: name and conversion, so ``%(n)s`` and ``%(n)d`` differ."""
    return {m.group(0) for m in PLACEHOLDER.finditer(text)}


def _where(message: Message) -> str:
    return ", ".join(f"{path}:{line}" for path, line in message.locations[:3])


def test_extraction_finds_the_marked_strings() -> None:
    """Guards the test itself: an extraction that silently found nothing would pass everything below."""
    ids = {m.id for m in extracted() if m.id}
    assert {"Tumorkonferenzen", "Benutzername", "Koordination", "Die Anfrage war ungültig."} <= ids
    assert len(ids) > 100


def test_every_source_string_is_translated() -> None:
    catalog = english()
    assert not catalog.fuzzy, "the catalog header is marked fuzzy; `pybabel compile` would skip the file"
    problems = []
    for message in extracted():
        if not message.id:
            continue
        entry = catalog.get(message.id, context=message.context)
        if entry is None:
            problems.append(f"missing: {message.id!r} ({_where(message)})")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif not all(s.strip() for s in _strings(entry)):
            problems.append(f"untranslated: {message.id!r} ({_where(message)})")
    assert not problems, "run `make translations-update` and translate:\n" + "\n".join(problems)


def test_placeholders_match() -> None:
    problems = []
    for entry in english():
        if not entry.id or not entry.string:
            continue
        wanted = set().union(*(_placeholders(i) for i in _ids(entry)))
        for text in _strings(entry):
            found = _placeholders(text)
            if found != wanted:
                problems.append(f"{entry.id!r}: msgid {sorted(wanted)}, msgstr {sorted(found)}: {text!r}")
            elif wanted:
                try:  # also catches a stray "%" in a translation, which would break the interpolation
                    text % dict.fromkeys(PLACEHOLDER.findall(text), 1)
                except (ValueError, TypeError, KeyError) as exc:
                    problems.append(f"{entry.id!r}: msgstr {text!r} does not format: {exc}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def compiled_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The .po compiled the way `make translations` does (fuzzy entries left out), in a temporary
    directory that :mod:`tumorboard.i18n` reads instead of the checkout's, so no prior build is needed."""
    out = tmp_path / "en" / "LC_MESSAGES"
    out.mkdir(parents=True)
    with (out / "messages.mo").open("wb") as mo:
        write_mo(mo, english(), use_fuzzy=False)
    monkeypatch.setattr(i18n, "TRANSLATIONS_DIR", tmp_path)
    i18n.translations.cache_clear()
    yield tmp_path
    i18n.translations.cache_clear()


@pytest.mark.usefixtures("compiled_catalog")
def test_translate_serves_english() -> None:
    text = "Sitzung abgesagt. Abonnierte Kalender zeigen sie als abgesagt."
    assert i18n.translate(text, "en") == "Session cancelled. Subscribed calendars show it as cancelled."
    assert i18n.translate("Tumorkonferenz %(board)s", "en", board="Gyn") == "Tumor board Gyn"
    assert i18n.translate(i18n.N_("Koordination"), "en") == "Coordination"


@pytest.mark.usefixtures("compiled_catalog")
def test_german_is_the_source_and_needs_no_catalog() -> None:
    assert i18n.translate("Tumorkonferenz %(board)s", "de", board="Gyn") == "Tumorkonferenz Gyn"
    assert i18n.translate("Tumorkonferenz %(board)s", board="Gyn") == "Tumorkonferenz Gyn"
