"""gunicorn settings for the web process: ``gunicorn -c python:tumorboard.web.gunicorn_conf app:app``.

The logs must not record secrets or patient data: query values are dropped, and calendar feed URLs carry their
access token in the path (``/feeds/<token>/…``),
and gunicorn writes request URLs into the access log (every request) and into the error log ("Error handling request
/feeds/<token>/…" when a request fails, for example when a worker is stopped while it answers).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

_FEED_TOKEN = re.compile(r"(/feeds/)[^/?#\s]+")
#: Query values: the UI searches patients by POST, but a typed or crafted ``GET /search?q=<name>`` must not put a
#: name into the access log either (review of issue 10).
_QUERY_VALUE = re.compile(r"([?&][^=&#\s]+=)[^&#\s]*")
#: The atoms of the access-log format that can contain a URL.
_URL_ATOMS = ("r", "U", "f")


def redact(text: str) -> str:
    """Feed tokens and every query value replaced by "…" (paths keep internal ids only)."""
    return _QUERY_VALUE.sub(r"\1…", _FEED_TOKEN.sub(r"\1…", text))


class _RedactingFilter(logging.Filter):
    """Rewrites each error-log record, message and traceback text, before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_ERROR_LOG_FILTER = _RedactingFilter()


class RedactingLogger(Logger):  # type: ignore[misc]
    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        self.error_log.addFilter(_ERROR_LOG_FILTER)  # the same instance is added once only

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in _URL_ATOMS:
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        if isinstance(atoms.get("{referer}i"), str):
            atoms["{referer}i"] = redact(atoms["{referer}i"])
        return atoms


logger_class = RedactingLogger
