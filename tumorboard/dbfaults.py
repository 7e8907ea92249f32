"""Database faults at the process boundaries: which ones mean "busy, try again", and how to log any of them
without the data that was being written.

- :func:`is_busy`: the write lock (SQLite) or a row/table lock (PostgreSQL) was not had within the busy timeout, or
  PostgreSQL gave up a transaction to resolve a conflict (serialization failure, deadlock). Nothing was saved and
  the same request may succeed a moment later: the web answers 503, jobs run again, the CLI exits with
  :data:`EXIT_BUSY`.
- Driver messages can carry the values that were written: PostgreSQL's ``DETAIL: Failing row contains (…)`` and
  ``Key (…)=(…)``, or ``invalid input syntax for type date: "…"``. :func:`describe` names a fault by class, SQLSTATE
  and schema names only; :func:`install_log_scrubber` makes every log record with a database exception carry that
  description instead of the messages, whichever logger or handler (gunicorn, pytest's caplog) formats it.
"""

from __future__ import annotations

import logging
import sqlite3
import traceback
from typing import Any

from sqlalchemy.exc import DBAPIError, StatementError

#: sysexits.h EX_TEMPFAIL: "a temporary failure; the user is invited to retry" (cron and scripts know it).
EXIT_BUSY = 75
#: What a client is told to wait before trying again (HTTP Retry-After, seconds).
RETRY_AFTER_SECONDS = 5

#: PostgreSQL: lock_not_available (lock_timeout), serialization_failure, deadlock_detected.
_PG_BUSY = frozenset({"55P03", "40001", "40P01"})
_SQLITE_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _driver_error(err: BaseException) -> BaseException:
    return err.orig if isinstance(err, DBAPIError) and err.orig is not None else err


def _sqlstate(err: BaseException) -> str | None:
    code = getattr(err, "sqlstate", None)  # psycopg 3
    return code if isinstance(code, str) else None


def is_busy(err: BaseException) -> bool:
    """True when ``err`` (SQLAlchemy's wrapper or the driver's error) means the database was busy."""
    orig = _driver_error(err)
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF in _SQLITE_BUSY
        return "database is locked" in str(orig) or "database table is locked" in str(orig)
    return _sqlstate(orig) in _PG_BUSY


def is_database_error(err: BaseException) -> bool:
    return isinstance(err, StatementError | sqlite3.Error) or _sqlstate(err) is not None or _is_psycopg(err)


def _is_psycopg(err: BaseException) -> bool:
    return any(cls.__module__.startswith("psycopg") for cls in type(err).__mro__)


def describe(err: BaseException) -> str:
    """The fault without any value: exception class, SQLSTATE or SQLite error name, and the schema names
    PostgreSQL reports (constraint, table, column). SQLite's own messages name only schema objects
    ("UNIQUE constraint failed: patients.mrn", "database is locked") and are kept."""
    orig = _driver_error(err)
    parts = [f"{type(orig).__module__}.{type(orig).__qualname__}"]
    if isinstance(orig, sqlite3.Error):
        name = getattr(orig, "sqlite_errorname", None)
        if name:
            parts.append(str(name))
        parts.append(str(orig).splitlines()[0] if str(orig) else "")
    else:
        if state := _sqlstate(orig):
            parts.append(f"sqlstate={state}")
        diag = getattr(orig, "diag", None)
        for field in ("schema_name", "table_name", "column_name", "constraint_name"):
            value = getattr(diag, field, None) if diag is not None else None
            if value:
                parts.append(f"{field.removesuffix('_name')}={value}")
    if isinstance(err, StatementError) and err.statement:
        # The statement text is ours, with placeholders (values are bound; engines have hide_parameters=True).
        parts.append(f"[SQL: {' '.join(err.statement.split())[:300]}]")
    return " ".join(p for p in parts if p)


def _chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return seen


def involves_database(err: BaseException) -> bool:
    return any(is_database_error(e) for e in _chain(err))


def safe_traceback(err: BaseException) -> str:
    """The traceback of ``err`` and its causes, as Python prints it, with every exception line of a chain that
    involves the database reduced to :func:`describe` (frames show code, never values)."""
    blocks: list[str] = []
    for index, exc in enumerate(reversed(_chain(err))):
        if index:
            direct = exc.__cause__ is not None
            blocks.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
                if direct
                else "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
        frames = "".join(traceback.format_tb(exc.__traceback__))
        blocks.append("Traceback (most recent call last):\n" + frames if frames else "")
        blocks.append(describe(exc) + "\n")
    return "".join(blocks).rstrip("\n")


_installed = False


def install_log_scrubber() -> None:
    """Every log record created from now on whose exception involves the database carries :func:`safe_traceback`
    instead of the exception (idempotent). Applied when the record is made, so every handler sees the same text."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        exc_info = record.exc_info
        if exc_info and exc_info[1] is not None and involves_database(exc_info[1]):
            record.exc_text = safe_traceback(exc_info[1])
            record.exc_info = None
        if isinstance(record.args, tuple) and any(isinstance(a, BaseException) for a in record.args):
            record.args = tuple(
                describe(a) if isinstance(a, BaseException) and involves_database(a) else a for a in record.args
            )
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
