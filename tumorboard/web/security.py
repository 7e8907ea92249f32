"""Login and role checks. Default deny: every endpoint needs a login unless marked :func:`public`, and every
non-public view declares its permission with :func:`requires` (a test enumerates the routes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from tumorboard.auth.actors import Actor
from tumorboard.auth.models import User
from tumorboard.auth.services import actor_for
from tumorboard.web.request_session import db, runtime

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


def login_user(user: User) -> None:
    session.clear()
    session["uid"] = user.id
    session.permanent = True


def init_app(app: Flask) -> None:
    @app.before_request
    def load_user() -> Response | None:
        g.user = None
        uid = session.get("uid")
        if isinstance(uid, int):
            user = db().get(User, uid)
            if user is not None and user.active:
                g.user = user
            else:
                session.clear()
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
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
