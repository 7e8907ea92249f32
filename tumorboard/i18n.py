"""Translation without Flask, so services, CLI and scheduler share one catalog with the web.

Source strings are German (the users' language); ``translations/en`` carries English. Domain code marks
strings with :func:`N_` and the boundary translates them with :func:`translate`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DEFAULT_LOCALE = "de"
LOCALES = ("de", "en")


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated later, where the reader's locale is known."""
    return message


@cache
def translations(locale: str) -> NullTranslations:
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [locale])


def translate(message: str, locale: str = DEFAULT_LOCALE, **params: Any) -> str:
    text = translations(locale).gettext(message)
    return text % params if params else text


def translate_plural(singular: str, plural: str, num: int, locale: str = DEFAULT_LOCALE, **params: Any) -> str:
    """``singular`` or ``plural`` by ``num`` and the locale's plural rule; ``%(num)s`` is filled in (as with
    Flask-Babel's ``ngettext`` in templates)."""
    return translations(locale).ngettext(singular, plural, num) % {"num": num, **params}
