"""The index row of the common instance, written on the DBAPI cursor while the sender waits.

Almost every received instance belongs to a series the index already knows, of a study that is still receiving,
and has a SOP Instance UID not seen before. For that case the listener needs five statements; run through the ORM
session they cost about eight times what the database itself needs (measured in docs/benchmarks.md), and the
sender waits for every instance. So they run here on the transaction's own DBAPI cursor, inside a Core
transaction the caller opened (``engine.begin()``). Everything else — first instance of a study or series,
copies of a known instance, a complete or purged study that a late instance reopens — returns ``False`` and the
caller rolls back and uses :func:`tumorboard.imaging.services.ingest_instance`, which also audits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from tumorboard.db import UTCDateTime
from tumorboard.imaging.dicom.dataset import Header
from tumorboard.imaging.models import StudyState
from tumorboard.imaging.services import instance_row

# Written with named parameters (:name), as sqlite3 takes them; rewritten once for drivers that want %(name)s.
_STATEMENTS = {
    "copy": "SELECT 1 FROM imaging_instance WHERE sop_instance_uid = :sop",
    "series": (
        "SELECT s.id, s.study_id, st.state FROM imaging_series s JOIN imaging_study st ON st.id = s.study_id "
        "WHERE s.series_uid = :uid"
    ),
    "insert": (
        "INSERT INTO imaging_instance (series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, "
        "instance_number, sha256, size_bytes, received_at, conflicting, calling_ae_title, peer_address) VALUES "
        "(:series_id, :sop, :sop_class, :ts, :number, :sha, :size, :at, :conflicting, :aet, :address)"
    ),
    "series_count": "UPDATE imaging_series SET instance_count = instance_count + 1 WHERE id = :id",
    # Only while the study is still receiving: if the completion job marked it complete meanwhile, no row
    # matches and the caller takes the general path, which reopens the study and audits that.
    "study_count": (
        "UPDATE imaging_study SET instance_count = instance_count + 1, last_received_at = :at "
        "WHERE id = :id AND state = :receiving"
    ),
}
_NAMED = re.compile(r"(?<!:):([a-z_]+)")


@contextlib.contextmanager
def _translated_errors(conn: Connection) -> Iterator[None]:
    """DBAPI errors as SQLAlchemy raises them (OperationalError for a locked or full database, and so on)."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as err:
        raise DBAPIError.instance(None, None, err, dbapi_error) from err


@dataclass(frozen=True)
class FastIndex:
    statements: dict[str, str]
    to_db_time: Callable[[Any], Any]

    @classmethod
    def for_engine(cls, engine: Engine) -> FastIndex | None:
        """The statements in the driver's parameter style; ``None`` for a driver this was not written for."""
        dialect = engine.dialect
        if dialect.driver == "pysqlite":
            statements = dict(_STATEMENTS)
        elif dialect.driver == "psycopg":
            statements = {k: _NAMED.sub(r"%(\1)s", v) for k, v in _STATEMENTS.items()}
        else:
            return None
        processor = UTCDateTime().bind_processor(dialect)
        return cls(statements, processor or (lambda value: value))

    def ingest(
        self,
        conn: Connection,
        header: Header,
        *,
        sha256: str,
        size: int,
        calling_ae_title: str,
        peer_address: str,
        at: dt.datetime,
    ) -> bool:
        """Index the instance if it is the common case; ``False`` (nothing written that the caller's rollback
        would not undo) otherwise."""
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None  # an open Connection always has one
        with _translated_errors(conn), contextlib.closing(dbapi_connection.cursor()) as cursor:
            return self._ingest(cursor, header, sha256, size, calling_ae_title, peer_address, at)

    def _ingest(
        self, cursor: Any, header: Header, sha256: str, size: int, calling_ae_title: str, peer_address: str,
        at: dt.datetime,
    ) -> bool:  # fmt: skip
        cursor.execute(self.statements["copy"], {"sop": header.sop_instance_uid})
        if cursor.fetchone() is not None:
            return False
        cursor.execute(self.statements["series"], {"uid": header.series_uid})
        series = cursor.fetchone()
        if series is None or series[2] != StudyState.RECEIVING.value:
            return False
        series_id, study_id = series[0], series[1]
        when = self.to_db_time(at)
        cursor.execute(
            self.statements["study_count"],
            {"id": study_id, "at": when, "receiving": StudyState.RECEIVING.value},
        )
        if cursor.rowcount != 1:
            return False
        row = instance_row(
            header,
            series_id=series_id,
            sha256=sha256,
            size=size,
            at=when,
            conflicting=False,
            calling_ae_title=calling_ae_title,
            peer_address=peer_address,
        )
        cursor.execute(self.statements["insert"], row)
        cursor.execute(self.statements["series_count"], {"id": series_id})
        return True
