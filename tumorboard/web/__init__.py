"""The web boundary: ``create_app(runtime)`` builds the Flask app around a bootstrapped runtime."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, g, request, session
from flask_babel import Babel, format_date, format_datetime, format_time
from flask_wtf.csrf import CSRFProtect
from werkzeug.routing import IntegerConverter

from tumorboard.bootstrap import Runtime, bootstrap
from tumorboard.clock import zone_suffix
from tumorboard.conferences.schedule import describe_rrule
from tumorboard.config import CHECKOUT
from tumorboard.i18n import DEFAULT_LOCALE, LOCALES, N_, TRANSLATIONS_DIR, translate
from tumorboard.web.unicode import NfcRequest

ROLE_LABELS = {
    "admin": N_("Administration"),
    "coordinator": N_("Koordination"),
    "physician": N_("Ärztin/Arzt"),
    "qm": N_("Qualitätsmanagement"),
}

csrf = CSRFProtect()


#: The largest id a route accepts: PostgreSQL's INTEGER.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:…>`` in every route: a database id, 1 to 2**31 - 1 — the range of our INTEGER primary keys on
    PostgreSQL (SQLite's are 64-bit). Larger and negative numbers do not match the route, so they are a 404
    instead of an overflow in the driver (``integer out of range`` on PostgreSQL, OverflowError on SQLite: 500)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def select_locale() -> str:
    user = g.get("user")
    if user is not None and user.locale in LOCALES:
        return str(user.locale)
    chosen = session.get("locale")
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


def create_app(runtime: Runtime | None = None) -> Flask:
    runtime = runtime or bootstrap()
    app = Flask(
        __name__,
        template_folder=str(CHECKOUT / "templates"),
        static_folder=str(CHECKOUT / "static"),
    )
    app.request_class = NfcRequest  # every form field and query parameter in NFC (issue 12)
    settings = runtime.settings
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        SESSION_COOKIE_NAME="tumorboard_session",
        # the cookie's own expiry; the idle timeout and the server-side logout are checked in web/security.py
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.session_max_hours),
        # uploads are checked for 20 MB in the service with a clear message; beyond this the server refuses (413)
        MAX_CONTENT_LENGTH=25 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # bound to the login session instead; a board meeting can last hours
        BABEL_DEFAULT_LOCALE=DEFAULT_LOCALE,
        BABEL_DEFAULT_TIMEZONE="Europe/Berlin",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS_DIR),
    )
    app.url_map.converters["int"] = IdConverter
    app.extensions["runtime"] = runtime
    from tumorboard.auth.passwords import warm_up

    warm_up()  # the dummy hash for unknown users, before the first login
    Babel(app, locale_selector=select_locale)
    csrf.init_app(app)

    from tumorboard.web import errors, request_session, security

    request_session.init_app(app)
    security.init_app(app)
    errors.init_app(app)

    from tumorboard.audit.views import bp as audit_bp
    from tumorboard.auth.views import bp as auth_bp
    from tumorboard.cases.views import bp as cases_bp
    from tumorboard.conferences.feeds import bp as feeds_bp
    from tumorboard.conferences.views import bp as conferences_bp
    from tumorboard.imaging.views import bp as imaging_bp
    from tumorboard.partners.views import bp as partners_bp

    for bp in (auth_bp, conferences_bp, cases_bp, feeds_bp, audit_bp, imaging_bp, partners_bp):
        app.register_blueprint(bp)
    from tumorboard.access.views import bp as access_bp
    from tumorboard.attendance.views import bp as attendance_bp
    from tumorboard.protocol.views import bp as protocol_bp
    from tumorboard.qm.views import bp as qm_bp

    app.register_blueprint(access_bp)
    app.register_blueprint(attendance_bp)
    app.register_blueprint(protocol_bp)
    from tumorboard.imaging.mail.views import bp as mail_bp

    app.register_blueprint(mail_bp)
    app.register_blueprint(qm_bp)
    from tumorboard.registry.views import bp as registry_bp

    app.register_blueprint(registry_bp)
    from tumorboard.cme.views import bp as cme_bp

    app.register_blueprint(cme_bp)

    app.jinja_env.filters.update(
        date=lambda v, fmt="EEE, dd.MM.yyyy": format_date(v, fmt) if v else "",
        # A wall time that occurs twice (the October change) carries its zone: "02:30 MESZ", "02:30 MEZ".
        time=lambda v, fmt="HH:mm": format_time(v, fmt) + zone_suffix(v, select_locale()) if v else "",
        datetime=lambda v, fmt="EEE, dd.MM.yyyy, HH:mm": (
            format_datetime(v, fmt) + zone_suffix(v, select_locale()) if v else ""
        ),
    )
    app.jinja_env.globals["LOCALES"] = LOCALES
    app.jinja_env.globals["rrule_text"] = lambda rule: describe_rrule(rule, select_locale())
    app.jinja_env.globals["role_label"] = lambda role: translate(ROLE_LABELS.get(role) or role, select_locale())

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {"current_user": g.get("user"), "current_locale": select_locale(), "request_path": request.path}

    return app
