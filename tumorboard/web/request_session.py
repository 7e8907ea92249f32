"""One database session per request, closed (and rolled back if uncommitted) at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from tumorboard.bootstrap import Runtime


def runtime() -> Runtime:
    rt = current_app.extensions["runtime"]
    assert isinstance(rt, Runtime)
    return rt


def db() -> Session:
    if "db" not in g:
        g.db = runtime().session_factory()
    session = g.db
    assert isinstance(session, Session)
    return session


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def close(exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()
