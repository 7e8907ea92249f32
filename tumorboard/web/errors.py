"""HTTP error pages, and the one mapping of domain errors to HTTP status codes."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask_babel import get_locale
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from tumorboard.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TumorboardError
from tumorboard.i18n import N_, translate

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

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> tuple[str, int]:  # process boundary
        log.exception("unhandled error")
        return _page(500, translate(_MESSAGES[500], str(get_locale() or "de")))
