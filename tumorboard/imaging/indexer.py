"""Group commit: every association's instances reach the index through one thread that shares the flushes.

The handler threads (one per association) make their files durable in parallel — fsync of the file, rename to
its content address, fsync of the folder — and hand the parsed header to :class:`GroupIndexer`. Its one thread
takes whatever has arrived meanwhile, indexes it in one transaction and commits once: one WAL flush for all of
them, however many partners send at the same time. Each handler answers its sender only after its own
instance's commit (and its own file) is durable.

On SQLite the indexer's transaction begins with the write lock (``BEGIN IMMEDIATE``) on its own connection, so
SQLite's busy timeout applies instead of a read-then-upgrade failing at once
(https://www.sqlite.org/lang_transaction.html). A database that stays locked or unavailable is retried until
``timeout`` has passed since the instance arrived; only then does the handler answer Out of Resources.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from tumorboard.auth.actors import Actor
from tumorboard.config import DEFAULT_BUSY_TIMEOUT_MS
from tumorboard.db import make_engine
from tumorboard.imaging.dicom.dataset import Header
from tumorboard.imaging.index import FastIndex, ingest_instance

log = logging.getLogger(__name__)

#: How many instances one transaction takes at most (a bound on how long one commit holds the write lock).
MAX_BATCH = 128


class IndexUnavailable(Exception):
    """The database stayed locked or unavailable past the timeout: nothing of this instance was indexed."""


@dataclass
class _Pending:
    header: Header
    partner_id: int
    row: dict[str, Any]
    arrived: float = field(default_factory=time.monotonic)
    done: Future[None] = field(default_factory=Future)


@dataclass
class _Rehearsal:
    """Instances indexed and rolled back, see :meth:`GroupIndexer.rehearse`."""

    instances: list[_Pending]
    done: Future[None] = field(default_factory=Future)


class GroupIndexer:
    """One thread, one transaction per group of instances that arrived together."""

    def __init__(self, engine: Engine, *, actor: Actor, timeout: float = 30.0) -> None:
        # each attempt waits at most a second for SQLite's write lock; _index retries until the instances' timeout
        self.engine = write_locking_engine(engine, busy_timeout_ms=1000)
        self._own_engine = self.engine is not engine
        self.fast = FastIndex.for_engine(self.engine)
        self.actor = actor
        self.timeout = timeout
        self._queue: queue.SimpleQueue[_Pending | _Rehearsal | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="dicom-indexer", daemon=True)
        #: Used by the indexer thread only (and by stop() once that thread has ended).
        self._conn: Connection | None = None
        #: Transactions committed and instances indexed (the benchmark and tests read them).
        self.commits = 0
        self.indexed = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._drop_connection()
        if self._own_engine:
            self.engine.dispose()

    def submit(self, header: Header, *, partner_id: int, **row: Any) -> Future[None]:
        """Queue one instance whose file is (or is being made) durable; the future resolves once its index row
        is committed, or raises (:class:`IndexUnavailable` for a database that stayed unavailable)."""
        pending = _Pending(header, partner_id, row)
        self._queue.put(pending)
        return pending.done

    def rehearse(self, headers: list[Header], *, partner_id: int, **row: Any) -> Future[None]:
        """Index ``headers`` (made-up instances) in one transaction on the indexer's own connection and roll it back:
        every statement the first real study needs is compiled and cached before the listener serves, so the first
        partner after a start does not wait for it. Nothing is kept; the future raises what the attempt raised.
        ``row`` as for :meth:`submit` (``sha256`` gets the instance's position appended)."""
        instances = [
            _Pending(header, partner_id, {**row, "sha256": f"{row['sha256'][:-3]}{n:03d}"})
            for n, header in enumerate(headers)
        ]
        rehearsal = _Rehearsal(instances)
        self._queue.put(rehearsal)
        return rehearsal.done

    # --- the indexer thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            if isinstance(first, _Rehearsal):
                self._rehearse(first)
                continue
            batch = [first]
            stopping = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                if isinstance(more, _Rehearsal):
                    self._rehearse(more)
                    continue
                batch.append(more)
            try:
                self._index(batch)
            except Exception as err:  # the thread must survive whatever one group does
                log.exception("indexer: unexpected failure")
                for pending in batch:
                    if not pending.done.done():
                        pending.done.set_exception(err)
            if stopping:
                return

    def _index(self, batch: list[_Pending]) -> None:
        deadline = min(p.arrived for p in batch) + self.timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                self._commit(batch)
            except OperationalError as err:
                # Locked (another process holds the write lock past the busy timeout) or unavailable: wait and
                # try again while the senders' instances are still within the timeout.
                if time.monotonic() < deadline:
                    time.sleep(min(0.05 * attempt, 1.0))
                    continue
                log.error("indexer: database unavailable for %.0f s (%s)", self.timeout, type(err.orig).__name__)
                for pending in batch:
                    pending.done.set_exception(IndexUnavailable(type(err.orig).__name__))  # never the driver text
                return
            except Exception as err:
                if len(batch) > 1:
                    # One instance's failure must not fail the others: each again in its own transaction.
                    for pending in batch:
                        self._index([pending])
                    return
                if isinstance(err, IntegrityError) and attempt < 3:
                    continue  # another process indexed the same study/series at the same moment: retry finds it
                batch[0].done.set_exception(err)
                return
            for pending in batch:
                pending.done.set_result(None)
            return

    def _commit(self, batch: list[_Pending]) -> None:
        """One transaction for the batch: the common instance on the connection's DBAPI cursor, anything else
        through a session joined to the same transaction (created only when needed: it costs more than the
        fast path itself)."""
        conn = self._connection()
        try:
            self._transaction(conn, batch)
        except BaseException:
            self._drop_connection()  # whatever state it is in (broken, mid-transaction): the next group starts anew
            raise
        self.commits += 1
        self.indexed += len(batch)

    def _connection(self) -> Connection:
        """The indexer's connection, kept between groups: a pool checkout and checkin per group cost about as much
        GIL time as indexing a common instance."""
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()  # not back into the pool: its state is unknown
            with contextlib.suppress(Exception):
                conn.close()

    def _rehearse(self, rehearsal: _Rehearsal) -> None:
        try:
            conn = self._connection()
            try:
                with conn.begin() as transaction:
                    self._write(conn, rehearsal.instances)
                    transaction.rollback()
            except BaseException:
                self._drop_connection()
                raise
        except Exception as err:
            rehearsal.done.set_exception(err)
        else:
            rehearsal.done.set_result(None)

    def _transaction(self, conn: Connection, batch: list[_Pending]) -> None:
        with conn.begin():  # SQLite: BEGIN IMMEDIATE (see write_locking_engine)
            self._write(conn, batch)

    def _write(self, conn: Connection, batch: list[_Pending]) -> None:
        """The batch's rows, inside the caller's transaction: the common instance on the connection's DBAPI cursor,
        anything else through a session joined to the same transaction (created only when needed)."""
        if conn.dialect.name == "postgresql":
            # PostgreSQL waits for a row or table lock without end; like SQLite's busy timeout, give up after
            # 10 s so that the retry loop above can count the time against the instances' timeout.
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        session: Session | None = None
        try:
            for pending in batch:
                header, row = pending.header, pending.row
                if self.fast is not None and self.fast.ingest(conn, header, **row):
                    continue
                if session is None:
                    session = Session(bind=conn, expire_on_commit=False)
                ingest_instance(session, header, partner_id=pending.partner_id, actor=self.actor, **row)
        finally:
            if session is not None:
                session.close()


def write_locking_engine(engine: Engine, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Engine:
    """The indexer's own connection on SQLite (one pooled connection, the pragmas and ``BEGIN IMMEDIATE`` of
    :func:`tumorboard.db.make_engine`); other databases: the engine itself."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    url = engine.url.render_as_string(hide_password=False)
    return make_engine(url, busy_timeout_ms=busy_timeout_ms, pool_size=1, max_overflow=0)
