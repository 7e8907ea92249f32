"""One database session per request, closed (and rolled back if uncommitted) at teardown.

On SQLite every transaction that may write holds the write lock from its start (see
:func:`tumorboard.db.make_engine`), so a request holds it no longer than it must:
- views marked :func:`read_only` never take it (a deferred ``BEGIN`` in a transaction that cannot write);
- after a request's commit, what follows (rendering the page, with its lazy loads) reads in such transactions too.
  One write transaction per request, then reads: a second write in the same request is refused — at the flush in
  every process and test, and by SQLite itself in production.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy import event
from sqlalchemy.orm import Session

from tumorboard.bootstrap import Runtime
from tumorboard.db import READ_ONLY

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
        read = _read_only_request()
        session = (rt.read_sessions() if read else rt.session_factory)()
        session.info[READ_ONLY] = read
        event.listen(session, "before_flush", _refuse_writes_when_read_only)
        if not read:
            event.listen(session, "after_commit", _read_only_from_now_on)
        g.db = session
    session = g.db
    assert isinstance(session, Session)
    return session


#: Where a request session's writer engine is kept while it reads after its commit (see :func:`write_again`).
_WRITER_BIND = "tumorboard_writer_bind"


def _read_only_from_now_on(session: Session) -> None:
    session.info[READ_ONLY] = True
    reader = runtime().read_session_factory
    if reader is not None:  # tests bind their sessions to one connection: the flush guard alone applies there
        session.info.setdefault(_WRITER_BIND, session.bind)
        session.bind = reader.kw["bind"]


def write_again() -> None:
    """A second write transaction after the request's commit, for the one flow that must keep a record whatever
    follows: a re-authentication (signing, amending) is committed before the action it guards, and the action, or
    the page that refuses it (with its access event), writes next. It takes the write lock again, from its start."""
    session = db()
    session.info[READ_ONLY] = False
    if _WRITER_BIND in session.info:
        session.bind = session.info.pop(_WRITER_BIND)


def _refuse_writes_when_read_only(session: Session, flush_context: object, instances: object) -> None:
    if session.info.get(READ_ONLY) and (
        session.new or session.deleted or any(session.is_modified(obj) for obj in session.dirty)
    ):
        raise RuntimeError(
            "write in a read-only request session (a read_only view, or after the request's commit): "
            "one write transaction per request, started before anything is read"
        )


def discard() -> None:
    """Ends the request's session now: rolled back, its objects detached with what they had loaded."""
    session = g.pop("db", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def close(exc: BaseException | None) -> None:
        discard()
