"""A Flask-free Jinja environment for exports (PDF agendas, protocols, attendance lists, e-mails).

Exports are pure renderers: objects and templates in, text or bytes out. They run in the web app, the CLI and the
scheduler alike, so they cannot use Flask's ``render_template``; this module gives them the same templates folder,
the same ``_()`` (bound to :func:`tumorboard.i18n.translations` of an explicit locale) and the same date/time filters
as the web app (Babel patterns, Europe/Berlin).

The environments belong to the process's :class:`~tumorboard.bootstrap.Runtime` (``runtime.templates``, built by
``bootstrap`` — one per locale, checked at start), and every export that renders a template takes them::

    html = runtime.templates.render("exports/pdf/agenda.html", locale="de", agenda=agenda, generated_at=now)

Templates rendered here see ``locale`` and these filters:

``date``, ``time``, ``datetime``
    Babel ``format_date`` / ``format_time`` / ``format_datetime`` with the web app's default patterns
    (``EEE, dd.MM.yyyy`` / ``HH:mm`` / ``EEE, dd.MM.yyyy, HH:mm``); aware datetimes are shown in Europe/Berlin.
``birthdate``
    A ``date`` or ISO date string as ``dd.MM.yyyy`` (TT.MM.JJJJ) — never shifted by a time zone.
``quoted``
    Wraps text in the locale's quotation marks (German „…“, English “…”), autoescaped.

and these globals: ``locale``; ``css_page_x_of_y()``, the CSS ``content`` value for "Seite X von Y" (used by
exports/pdf/base.html's footer).

Undefined variables raise (``StrictUndefined``): a typo in an export template fails in tests, not on paper.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime, format_time
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from tumorboard.clock import BERLIN, zone_suffix
from tumorboard.config import CHECKOUT
from tumorboard.i18n import DEFAULT_LOCALE, LOCALES, N_, translations

#: The repository's templates (shared with the web app) and static assets (the only files a PDF may load).
TEMPLATES_DIR = CHECKOUT / "templates"
STATIC_DIR = CHECKOUT / "static"

DATE_FORMAT = "EEE, dd.MM.yyyy"
TIME_FORMAT = "HH:mm"
DATETIME_FORMAT = "EEE, dd.MM.yyyy, HH:mm"
#: Opening and closing quotation marks per locale (DIN 5008: „…“ in German).
QUOTES = {"de": ("„", "“"), "en": ("“", "”")}


def _berlin(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime in an export; pass timezone-aware UTC")
    return value.astimezone(BERLIN)


def format_date_filter(value: dt.date | dt.datetime | None, fmt: str = DATE_FORMAT, *, locale: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        # babel's format_date drops the time zone of a datetime; take the Berlin calendar day first.
        value = _berlin(value)
    return str(format_date(value, fmt, locale=locale))


def format_time_filter(value: dt.time | dt.datetime | None, fmt: str = TIME_FORMAT, *, locale: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        value = _berlin(value)
    return str(format_time(value, fmt, locale=locale)) + zone_suffix(value, locale)


def format_datetime_filter(value: dt.datetime | None, fmt: str = DATETIME_FORMAT, *, locale: str) -> str:
    if value is None or value == "":
        return ""
    return str(format_datetime(_berlin(value), fmt, tzinfo=BERLIN, locale=locale)) + zone_suffix(value, locale)


def format_birthdate(value: dt.date | str | None) -> str:
    """TT.MM.JJJJ in every locale (that is how a birth date is printed on German clinical documents)."""
    if value is None or value == "":
        return ""
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return day.strftime("%d.%m.%Y")


def quoted(value: object, *, locale: str) -> Markup:
    start, end = QUOTES.get(locale, QUOTES[DEFAULT_LOCALE])
    return Markup(start) + escape(value) + Markup(end)  # noqa: S704 - constant quote marks around escaped text


def css_string(text: str) -> str:
    """``text`` as a CSS string literal (for ``content:`` in page margin boxes)."""
    escaped = "".join(ch if ch.isprintable() and ch not in '"\\<>' else f"\\{ord(ch):x} " for ch in text)
    return f'"{escaped}"'


def css_page_x_of_y(locale: str) -> Markup:
    """CSS ``content`` for "Seite X von Y" in ``locale``, from one translatable string (word order may differ)."""
    template = translations(locale).gettext(N_("Seite %(page)s von %(pages)s"))
    parts: list[str] = []
    for chunk in re.split(r"(%\(pages?\)s)", template):
        if chunk == "%(page)s":
            parts.append("counter(page)")
        elif chunk == "%(pages)s":
            parts.append("counter(pages)")
        elif chunk:
            parts.append(css_string(chunk))
    return Markup(" ".join(parts))  # noqa: S704 - built from CSS-escaped strings and fixed counters


def build_environment(locale: str, templates_dir: Path = TEMPLATES_DIR) -> Environment:
    """The export environment for ``locale`` (Jinja environments are thread-safe for rendering)."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}")
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=select_autoescape(("html", "xml")),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    # newstyle like Flask-Babel: _('… %(x)s', x=…) formats and autoescapes its parameters.
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        date=lambda v, fmt=DATE_FORMAT: format_date_filter(v, fmt, locale=locale),
        time=lambda v, fmt=TIME_FORMAT: format_time_filter(v, fmt, locale=locale),
        datetime=lambda v, fmt=DATETIME_FORMAT: format_datetime_filter(v, fmt, locale=locale),
        birthdate=format_birthdate,
        quoted=lambda v: quoted(v, locale=locale),
    )
    env.globals["locale"] = locale
    env.globals["css_page_x_of_y"] = lambda: css_page_x_of_y(locale)
    return env


class ExportTemplates:
    """The export environments of one process, one per locale (``Runtime.templates``)."""

    def __init__(self, templates_dir: Path = TEMPLATES_DIR) -> None:
        if not templates_dir.is_dir():
            raise ValueError(f"export templates not found in {templates_dir}")
        self._environments = {locale: build_environment(locale, templates_dir) for locale in LOCALES}

    def environment(self, locale: str = DEFAULT_LOCALE) -> Environment:
        try:
            return self._environments[locale]
        except KeyError:
            raise ValueError(f"unknown locale {locale!r}") from None

    def render(self, template: str, *, locale: str = DEFAULT_LOCALE, **context: Any) -> str:
        """Render ``template`` (a path below templates/) in ``locale`` with ``context``."""
        return self.environment(locale).get_template(template).render(**context)
