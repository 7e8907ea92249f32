"""Declarative base, engine and session factory.

Datetimes are stored as UTC: :class:`UTCDateTime` keeps them timezone-aware in Python on SQLite too.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Enum, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from tumorboard.config import DEFAULT_BUSY_TIMEOUT_MS

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC in Python; naive UTC on SQLite, ``timestamptz`` on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def enum_column(cls: type[enum.Enum], name: str, *, length: int = 20) -> Enum:
    """The one mapping of a Python enum to a column: stored by value (not member name) as a VARCHAR with a
    CHECK constraint (``native_enum=False``), so adding a member is a migration of the constraint, not an
    ``ALTER TYPE``; unknown strings are refused before any SQL is sent (``validate_strings``)."""
    return Enum(
        cls,
        name=name,
        values_callable=lambda e: [m.value for m in e],
        native_enum=False,
        length=length,
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON()}


#: Execution option of an engine whose transactions only read (:func:`read_only_engine`).
READ_ONLY = "tumorboard_read_only"


def make_engine(url: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, **kwargs: Any) -> Engine:
    """The engine for ``url``. Error messages never carry bound values (``hide_parameters``): they may be
    patient data, and the messages end up in logs.

    On SQLite every transaction begins with the write lock (``BEGIN IMMEDIATE``), so a writer queues for up to
    ``busy_timeout_ms`` at its start. A deferred ``BEGIN`` that reads first and then writes cannot wait: SQLite
    refuses the upgrade at once ("database is locked") when another connection wrote meanwhile (issue 16).
    Transactions of :func:`read_only_engine` begin deferred and cannot write at all.
    """
    if url.startswith("postgresql"):
        options = f"-c lock_timeout={busy_timeout_ms}"
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args["options"] = f"{connect_args['options']} {options}" if "options" in connect_args else options
    engine = create_engine(url, hide_parameters=True, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_timeout_ms=busy_timeout_ms))
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def read_only_engine(engine: Engine) -> Engine:
    """The same pool for transactions that only read (a calendar feed): on SQLite they begin deferred and take
    no write lock, and any write in them fails at once instead of trying to upgrade."""
    return engine.execution_options(**{READ_ONLY: True})


def _sqlite_begin(conn: Connection) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented recipe takes it over
    # ("Serializable isolation / Savepoints / Transactional DDL" in the SQLite dialect docs).
    read_only = bool(conn.get_execution_options().get(READ_ONLY))
    if conn.info.get(READ_ONLY, False) != read_only:  # per pooled connection; set only when it changes
        conn.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
        conn.info[READ_ONLY] = read_only
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, record: ConnectionPoolEntry, *, busy_timeout_ms: int) -> None:
    # WAL lets readers go on while one writer writes; the busy timeout makes writers queue instead of failing at
    # once; SQLite leaves foreign keys off unless asked.
    dbapi_connection.isolation_level = None  # see _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
