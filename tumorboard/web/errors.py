"""HTTP error pages, and the one mapping of domain errors to HTTP status codes."""

from __future__ import annotations

import logging

from flask import Flask, g, render_template, request
from flask_babel import get_locale
from flask_wtf.csrf import CSRFError
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from tumorboard.dbfaults import RETRY_AFTER_SECONDS, describe, is_busy
from tumorboard.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TumorboardError
from tumorboard.i18n import N_, translate
from tumorboard.web import request_session

log = logging.getLogger(__name__)

STATUS = {NotFound: 404, PermissionDenied: 403, Conflict: 409, InvalidInput: 422}

_MESSAGES = {
    400: N_("Die Anfrage war ungültig."),
    401: N_("Bitte melden Sie sich an."),
    403: N_("Dafür fehlt Ihnen die Berechtigung."),
    404: N_("Diese Seite gibt es nicht."),
    405: N_("Diese Aktion ist hier nicht erlaubt."),
    409: N_("Die Aktion widerspricht dem aktuellen Stand."),
    413: N_("Die Datei ist zu groß (höchstens 20 MB). Es wurde nichts gespeichert."),
    422: N_("Die Eingabe ist ungültig."),
    500: N_("Ein interner Fehler ist aufgetreten. Er wurde protokolliert."),
    503: N_("Der Dienst ist gerade ausgelastet – nichts wurde gespeichert, bitte erneut versuchen."),
}


def message(err: TumorboardError) -> str:
    locale = str(get_locale() or "de")
    # A ``label`` parameter names the field and is itself a msgid (tumorboard/text.py).
    params = {k: translate(v, locale) if k == "label" else v for k, v in err.params.items()}
    return translate(err.message, locale, **params)


def status_of(err: TumorboardError) -> int:
    for cls, code in STATUS.items():
        if isinstance(err, cls):
            return code
    return 400


def _page(code: int, text: str) -> tuple[str, int]:
    return render_template("errors/error.html", code=code, message=text), code


def _forget_database() -> None:
    """Rolls the request's transaction back before the error page is rendered: nothing of it is saved, and the page
    needs no database — which may be what failed. The signed-in user keeps what was loaded (detached); a failed
    flush expired it, and then the page shows no user rather than fail again (a bare 500)."""
    request_session.discard()
    user = g.get("user")
    if user is not None and inspect(user).expired_attributes:
        g.user = None


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError) -> tuple[str, int]:
        text = translate(
            N_(
                "Das Formular ist abgelaufen oder ungültig (CSRF-Prüfung). Bitte laden Sie die Seite neu und "
                "senden Sie es noch einmal. Es wurde nichts geändert."
            ),
            str(get_locale() or "de"),
        )
        return _page(400, text)

    @app.errorhandler(TumorboardError)
    def domain_error(err: TumorboardError) -> tuple[str, int]:
        return _page(status_of(err), message(err))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[str, int]:
        code = err.code or 500
        return _page(code, translate(_MESSAGES.get(code, _MESSAGES[400]), str(get_locale() or "de")))

    @app.errorhandler(DBAPIError)
    def database_error(err: DBAPIError) -> tuple[str, int, dict[str, str]] | tuple[str, int]:
        if not is_busy(err):
            return unexpected(err)
        _forget_database()
        log.warning("database busy, request %s %s answered 503: %s", request.method, request.endpoint, describe(err))
        page, code = _page(503, translate(_MESSAGES[503], str(get_locale() or "de")))
        return page, code, {"Retry-After": str(RETRY_AFTER_SECONDS)}

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> tuple[str, int]:  # process boundary
        # database errors are logged without their messages' values (tumorboard.dbfaults.install_log_scrubber)
        log.exception("unhandled error in %s %s", request.method, request.endpoint)
        _forget_database()
        return _page(500, translate(_MESSAGES[500], str(get_locale() or "de")))
