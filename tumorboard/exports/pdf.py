"""HTML to PDF/A-3b with WeasyPrint, loading nothing but our own static files.

:func:`render_pdf` is the one way exports make PDFs (agenda, protocol, attendance list). Pair it with
:func:`tumorboard.exports.rendering.render` and a template extending ``exports/pdf/base.html``, which sets A4, the
font ("DejaVu Sans", pinned on ``html`` because page margin boxes do not inherit from ``body``) and the
"Seite X von Y" footer. Letters DejaVu lacks (Chinese, Japanese, Korean, Arabic, Hebrew …) come from the Noto
fonts Pango falls back to (Debian fonts-noto-core and fonts-noto-cjk, installed by ``make run``/``make test``); a
character no installed font has makes the file plain PDF instead of PDF/A (issue 12).

Document metadata comes from the HTML, as WeasyPrint reads it: ``<html lang>`` (the PDF's /Lang, required for
PDF/A), ``<title>`` (the PDF title) and ``<meta name="author|description|keywords|generator">``.

Security: templates carry patient data and user input, so the renderer must never reach the network or the file
system at large. :class:`AssetFetcher` serves ``data:`` URLs and files below the repository's ``static/`` folder;
every other URL (http, https, ftp, file elsewhere, ``..`` escapes) raises :class:`RefusedURL`, and rendering stops
with :class:`PdfRenderError` instead of silently printing a page without the resource.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from weasyprint import HTML, Attachment  # type: ignore[import-untyped]
from weasyprint.css import ColorProfile  # type: ignore[import-untyped]
from weasyprint.urls import (  # type: ignore[import-untyped]
    FatalURLFetchingError,
    URLFetcher,
    URLFetcherResponse,
)

from tumorboard.exports.rendering import STATIC_DIR

log = logging.getLogger(__name__)

#: PDF/A-3b: archivable, and it allows embedded files (e.g. a CSV or XML next to the printed agenda).
PDF_VARIANT = "pdf/a-3b"
#: base_url for our templates: relative URLs ("style.css", "img/logo.png") resolve into static/.
STATIC_BASE_URL = STATIC_DIR.resolve().as_uri() + "/"


#: Name of our PDF/A output intent (an sRGB ICC profile; see _output_intent()).
OUTPUT_INTENT = "srgb-pdfa"


@cache
def _srgb_icc() -> bytes:
    return (files("weasyprint.pdf") / "sRGB2014.icc").read_bytes()


def _output_intent() -> dict[str, Any]:
    """WeasyPrint 70 builds the PDF/A sRGB output intent from a file it opens and never closes (a ResourceWarning
    on every PDF, an error under pytest's filterwarnings=error). We hand it the same ICC profile from memory."""
    profile = ColorProfile(io.BytesIO(_srgb_icc()), "sRGB2014.icc", "relative-colorimetric", (["r"], ["g"], ["b"]))
    return {"color_profiles": {OUTPUT_INTENT: profile}, "output_intent": OUTPUT_INTENT}


class RefusedURL(ValueError):
    """A template asked for a resource outside static/ (or not a data: URL)."""


class PdfRenderError(RuntimeError):
    """The PDF could not be rendered (a refused resource, or WeasyPrint failed to load one)."""


class AssetFetcher(URLFetcher):  # type: ignore[misc]
    """WeasyPrint URL fetcher that serves only ``data:`` URLs and files below ``root`` (default: static/)."""

    def __init__(self, root: Path = STATIC_DIR, **kwargs: Any) -> None:
        kwargs.setdefault("fail_on_errors", True)
        super().__init__(allowed_protocols=("data", "file"), allow_redirects=False, **kwargs)
        self.root = root.resolve()

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file" and parts.netloc in ("", "localhost"):
            path = Path(unquote(parts.path)).resolve()
            if path.is_relative_to(self.root) and path.is_file():
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": content_type})
        # Never echo the URL into logs in full: a query string could carry anything.
        raise RefusedURL(f"refused to load a {scheme or 'relative'}: resource (only static/ and data: are served)")

    def __call__(self, url: str) -> URLFetcherResponse:
        return self.fetch(url)


@dataclass(frozen=True)
class PdfAttachment:
    """A file embedded in the PDF/A-3 (e.g. the agenda's CSV), listed by PDF readers as an attachment."""

    name: str
    data: bytes
    description: str = ""
    relationship: str = "Supplement"  #: PDF/A-3 /AFRelationship: Source, Data, Alternative, Supplement


def render_pdf(
    html: str,
    *,
    base_url: str = STATIC_BASE_URL,
    attachments: Sequence[PdfAttachment] = (),
    fetcher: URLFetcher | None = None,
) -> bytes:
    """Render ``html`` (a complete document, see module docstring) to PDF/A-3b bytes.

    ``base_url`` resolves relative URLs in the HTML; the default points into static/. Raises
    :class:`PdfRenderError` when the document references anything :class:`AssetFetcher` refuses.
    """
    document = HTML(string=html, base_url=base_url, url_fetcher=fetcher or AssetFetcher())
    extra: dict[str, Any] = {}
    if attachments:
        extra["attachments"] = [
            Attachment(string=a.data, name=a.name, description=a.description, relationship=a.relationship)
            for a in attachments
        ]
    try:
        with _MissingGlyphs() as missing:
            pdf: bytes = document.write_pdf(pdf_variant=PDF_VARIANT, **_output_intent(), **extra)
        if missing.count:
            # PDF/A forbids .notdef glyphs (ISO 19005-3, 6.2.11.8): a name no installed font can print must not
            # leave as a file that claims to be archivable. Written again as plain PDF; the log has the count only
            # (the characters would be part of a patient's name).
            log.warning("PDF written without the PDF/A claim: %s characters no installed font has", missing.count)
            pdf = document.write_pdf(**extra)
    except FatalURLFetchingError as err:  # a BaseException in WeasyPrint; make it an ordinary error
        raise PdfRenderError(str(err.__cause__ or err)) from err.__cause__
    return pdf


class _MissingGlyphs(logging.Handler):
    """Counts WeasyPrint's ".notdef glyph rendered" warnings of this thread while installed (with ...)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread and str(record.msg).startswith(".notdef glyph rendered"):
            self.count += 1

    def __enter__(self) -> _MissingGlyphs:
        logging.getLogger("weasyprint").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("weasyprint").removeHandler(self)
