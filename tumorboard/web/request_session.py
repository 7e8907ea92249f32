"""One database session per request, closed (and rolled back if uncommitted) at teardown.

Views marked :func:`read_only` get a session that never takes the write lock (on SQLite: a deferred ``BEGIN`` that
cannot write); every other request's transactions begin with the write lock (see :func:`tumorboard.db.make_engine`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from tumorboard.bootstrap import Runtime

F = TypeVar("F", bound=Callable[..., Any])


def runtime() -> Runtime:
    rt = current_app.extensions["runtime"]
    assert isinstance(rt, Runtime)
    return rt


def read_only(view: F) -> F:
    """Marks a view that writes nothing, not even an access event: its requests read without the write lock."""
    view.tumorboard_read_only = True  # type: ignore[attr-defined]
    return view


def _read_only_request() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "tumorboard_read_only", False))


def db() -> Session:
    if "db" not in g:
        rt = runtime()
        g.db = (rt.read_sessions() if _read_only_request() else rt.session_factory)()
    session = g.db
    assert isinstance(session, Session)
    return session


def discard() -> None:
    """Ends the request's session now: rolled back, its objects detached with what they had loaded."""
    session = g.pop("db", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def close(exc: BaseException | None) -> None:
        discard()
