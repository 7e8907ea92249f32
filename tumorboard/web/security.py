"""Login and role checks. Default deny: every endpoint needs a login unless marked :func:`public`, and every
non-public view declares its permission with :func:`requires` (a test enumerates the routes)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from tumorboard.auth.actors import Actor
from tumorboard.auth.models import User
from tumorboard.auth.services import actor_for, reauthenticate
from tumorboard.auth.throttle import ThrottlePolicy
from tumorboard.web.request_session import db, runtime, write_again

F = TypeVar("F", bound=Callable[..., Any])
PUBLIC_ATTR = "_tumorboard_public"
PERMISSION_ATTR = "_tumorboard_permission"


def public(view: F) -> F:
    """Reachable without login: only the login page and token-protected feeds."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def requires(permission: Callable[[User], bool]) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = g.get("user")
            if user is None:
                abort(401)
            if not permission(user):
                abort(403)
            return view(*args, **kwargs)

        setattr(wrapper, PERMISSION_ATTR, permission)
        return wrapper  # type: ignore[return-value]

    return decorate


def current_user() -> User:
    user = g.get("user")
    if user is None:
        abort(401)
    assert isinstance(user, User)
    return user


def current_actor() -> Actor:
    return actor_for(current_user())


def now() -> dt.datetime:
    return runtime().clock.now()


def client_address() -> str:
    """The client's address: the socket peer, or what the configured reverse proxy reports (ProxyFix trusts only
    as many X-Forwarded-For entries as ``TUMORBOARD_PROXY_HOPS`` says; a client cannot add its own)."""
    return request.remote_addr or "unknown"


def throttle_policy() -> ThrottlePolicy:
    settings = runtime().settings
    return ThrottlePolicy.from_settings(
        max_failures=settings.login_max_failures, window_minutes=settings.login_window_minutes
    )


def confirm_password(password: str) -> None:
    """Re-authentication before a signature: throttled and audited like the login. Commits its own record in either
    case, so a wrong password counts even though the action it guarded is rolled back; call it before any change.
    The action (or the page refusing it) is the request's second write transaction."""
    try:
        reauthenticate(
            db(), current_user(), password=password, address=client_address(), at=now(), policy=throttle_policy()
        )
    finally:
        db().commit()
        write_again()


def _epoch(at: dt.datetime) -> int:
    return int(at.timestamp())


def login_user(user: User) -> None:
    """Start a login session. Whatever the browser session held before is dropped (new CSRF token, new random
    session id): a session planted before the login is worth nothing after it."""
    session.clear()
    at = _epoch(now())
    session["uid"] = user.id
    session["gen"] = user.session_generation
    session["sid"] = secrets.token_urlsafe(16)
    session["login"] = at
    session["seen"] = at
    session.permanent = True


def _session_user() -> User | None:
    """The logged-in user if the signed session is current: same session generation as the account, not idle
    longer than the idle timeout, not older than the absolute lifetime (both measured with the injected clock)."""
    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    settings = runtime().settings
    at = _epoch(now())
    login, seen, gen = session.get("login"), session.get("seen"), session.get("gen")
    user = db().get(User, uid)
    if (
        user is None
        or not user.active
        or not isinstance(login, int)
        or not isinstance(seen, int)
        or gen != user.session_generation
    ):
        session.clear()
        return None
    if at - seen > settings.session_idle_minutes * 60 or at - login > settings.session_max_hours * 3600:
        session.clear()
        flash(_("Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an."), "info")
        return None
    session["seen"] = at
    return user


def init_app(app: Flask) -> None:
    settings = app.extensions["runtime"].settings
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    @app.before_request
    def load_user() -> Response | None:
        g.user = None
        if request.endpoint != "static":
            g.user = _session_user()
        if request.endpoint is None:
            return None  # 404 follows
        if request.endpoint == "static":
            return None
        view = app.view_functions.get(request.endpoint)
        if getattr(view, PUBLIC_ATTR, False):
            return None
        if g.user is None:
            if request.method == "GET":
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            abort(401)
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # same-origin, not no-referrer: Flask-WTF checks on HTTPS that a form post's Referer is our own origin
        # (WTF_CSRF_SSL_STRICT); other sites still learn nothing, and our URLs carry internal ids only
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if settings.is_production:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
