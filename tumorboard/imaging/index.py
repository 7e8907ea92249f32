"""The study index: one received instance becomes one ``imaging_instance`` row (study and series created on first
sight, counts updated, a complete study reopened). The only place that writes the ingest SQL; two ways to run it:

- :func:`ingest_instance` on a session — every case, with audit events and matching of a new study;
- :class:`FastIndex` on the transaction's own DBAPI cursor — the common instance only (a known series of a study
  that is still receiving, a SOP Instance UID not seen before), which is almost every instance. Through the ORM
  session the same statements cost about eight times what the database itself needs (measured in
  docs/benchmarks.md), and the sender waits for every instance. Anything else returns ``False`` and the caller
  takes :func:`ingest_instance`.

Services flush and audit; their callers (listener, demo, tests) commit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Connection, Engine, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.db import UTCDateTime
from tumorboard.imaging.dicom.dataset import Header
from tumorboard.imaging.matching import match_study
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy, StudyState
from tumorboard.partners.models import Partner

# The per-instance statements, written once with named parameters (:name) as sqlite3 takes them; the fast path
# rewrites them once for drivers that want %(name)s. Built once: constructing SQLAlchemy statements costs more CPU
# than running them (measured in benchmarks/imaging.py), and the sender waits for every instance.
SQL = {
    "copies": (
        "SELECT i.id, i.sha256, i.conflicting, s.study_id FROM imaging_instance i "
        "JOIN imaging_series s ON s.id = i.series_id WHERE i.sop_instance_uid = :sop"
    ),
    "study": "SELECT id, state FROM imaging_study WHERE study_uid = :uid",
    "series": (
        "SELECT s.id, s.study_id, st.state FROM imaging_series s JOIN imaging_study st ON st.id = s.study_id "
        "WHERE s.series_uid = :uid"
    ),
    "insert": (
        "INSERT INTO imaging_instance (series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, "
        "instance_number, sha256, size_bytes, received_at, conflicting, calling_ae_title, peer_address, "
        "received_sop_instance_uid) VALUES (:series_id, :sop, :sop_class, :ts, :number, :sha, :size, :at, "
        ":conflicting, :aet, :address, :received_sop) RETURNING id"
    ),
    "flag_conflict": "UPDATE imaging_instance SET conflicting = true WHERE sop_instance_uid = :sop",
    "bump_series": "UPDATE imaging_series SET instance_count = instance_count + 1 WHERE id = :id",
    # A new instance reopens a complete study (late instance) and un-purges a purged one (a resend after
    # retention). The fast path bumps only a study that is still receiving: if the completion job marked it
    # complete meanwhile, no row matches and the caller takes the general path, which reopens and audits.
    "bump_study": (
        "UPDATE imaging_study SET instance_count = instance_count + :n, last_received_at = :at, "
        "state = 'receiving', completed_at = NULL, purged_at = NULL WHERE id = :id"
    ),
}
SQL["bump_receiving_study"] = SQL["bump_study"] + " AND state = 'receiving'"

_COPIES = text(SQL["copies"])
_STUDY = text(SQL["study"])
_SERIES = text(SQL["series"])
_INSERT = text(SQL["insert"]).bindparams(
    bindparam("at", type_=UTCDateTime()), bindparam("conflicting", type_=Boolean())
)
_FLAG_CONFLICT = text(SQL["flag_conflict"])
_BUMP_SERIES = text(SQL["bump_series"])
_BUMP_STUDY = text(SQL["bump_study"]).bindparams(bindparam("at", type_=UTCDateTime()))


@dataclass(frozen=True)
class IngestResult:
    instance_id: int
    study_id: int
    #: False when the same SOP Instance UID with the same bytes was already indexed (nothing changed).
    created: bool
    #: True when another copy with the same SOP Instance UID but different bytes exists (both kept).
    conflicting: bool


def ingest_instance(
    session: Session,
    header: Header,
    *,
    sha256: str,
    size: int,
    partner_id: int,
    calling_ae_title: str,
    peer_address: str,
    at: dt.datetime,
    actor: Actor,
) -> IngestResult:
    """Index one stored object: study and series are created on first sight, counts and times updated, a
    complete study reopened. Idempotent on (SOP Instance UID, SHA-256).

    This runs once per received instance while the sender waits, so even here the common path (known study and
    series) uses a handful of Core statements instead of loading ORM objects."""
    conn = session.connection()  # Core execution: the ORM's per-statement overhead is not needed here
    copies = conn.execute(_COPIES, {"sop": header.sop_instance_uid}).all()
    for copy in copies:
        if copy.sha256 == sha256:
            return IngestResult(copy.id, copy.study_id, created=False, conflicting=bool(copy.conflicting))
    # A known series brings its study (one query on the common path). A series UID reused under another study
    # means a broken sender: the instance is indexed under the series' own study.
    series = conn.execute(_SERIES, {"uid": header.series_uid}).first()
    if series is not None:
        series_id, study_id, state = series.id, series.study_id, StudyState(series.state)
    else:
        found = conn.execute(_STUDY, {"uid": header.study_uid}).first()
        if found is None:
            partner = session.get(Partner, partner_id)
            assert partner is not None
            study_id = _new_study(session, header, partner=partner, at=at, actor=actor).id
            state = StudyState.RECEIVING
        else:
            study_id, state = found.id, StudyState(found.state)
        new_series = ImagingSeries(
            study_id=study_id,
            series_uid=header.series_uid,
            received_series_uid=header.received_series_uid,
            modality=header.modality,
            series_number=header.series_number,
            series_description=header.series_description,
            body_part=header.body_part,
            instance_count=0,
            preview_instance_count=0,
        )
        session.add(new_series)
        session.flush()
        series_id = new_series.id
    conflicting = bool(copies)
    instance_id = conn.execute(
        _INSERT,
        instance_row(
            header,
            series_id=series_id,
            sha256=sha256,
            size=size,
            at=at,
            conflicting=conflicting,
            calling_ae_title=calling_ae_title,
            peer_address=peer_address,
        ),
    ).scalar_one()
    if conflicting:
        conn.execute(_FLAG_CONFLICT, {"sop": header.sop_instance_uid})
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_INSTANCE_CONFLICT,
            subject_type=SubjectType.IMAGING_STUDY,
            subject_id=study_id,
            at=at,
            after={"copies": len(copies) + 1, "partner_id": partner_id},
        )
    else:
        conn.execute(_BUMP_SERIES, {"id": series_id})
    conn.execute(_BUMP_STUDY, {"id": study_id, "n": 0 if conflicting else 1, "at": at})
    if state is StudyState.COMPLETE:
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_STUDY_REOPEN,
            subject_type=SubjectType.IMAGING_STUDY,
            subject_id=study_id,
            at=at,
        )
    session.flush()
    return IngestResult(instance_id, study_id, created=True, conflicting=conflicting)


def instance_row(
    header: Header,
    *,
    series_id: int,
    sha256: str,
    size: int,
    at: Any,
    conflicting: bool,
    calling_ae_title: str,
    peer_address: str,
) -> dict[str, Any]:
    """The values of a new ``imaging_instance`` row (here and in the listener's fast path), as received."""
    return {
        "series_id": series_id,
        "sop": header.sop_instance_uid,
        "sop_class": header.sop_class_uid,
        "ts": header.transfer_syntax_uid,
        "number": header.instance_number,
        "sha": sha256,
        "size": size,
        "at": at,
        "conflicting": conflicting,
        "aet": calling_ae_title[:16],
        "address": peer_address[:64],
        "received_sop": header.received_sop_instance_uid,
    }


def _new_study(session: Session, header: Header, *, partner: Partner, at: dt.datetime, actor: Actor) -> ImagingStudy:
    study = ImagingStudy(
        study_uid=header.study_uid,
        received_study_uid=header.received_study_uid,
        partner_id=partner.id,
        patient_name=header.patient_name,
        patient_id=header.patient_id,
        issuer_of_patient_id=header.issuer_of_patient_id,
        birth_date=header.birth_date,
        sex=header.sex,
        accession_number=header.accession_number,
        study_date=header.study_date,
        study_description=header.study_description,
        character_set=header.character_set,
        state=StudyState.RECEIVING,
        instance_count=0,
        first_received_at=at,
        last_received_at=at,
        suggestions=[],
    )
    study.partner = partner
    session.add(study)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.IMAGING_STUDY_RECEIVE,
        subject_type=SubjectType.IMAGING_STUDY,
        subject_id=study.id,
        at=at,
        after={"partner_id": partner.id, "generated_key": header.received_study_uid is not None},
    )
    match_study(session, study, at=at, actor=actor)
    return study


def is_indexed(session: Session, sha256: str) -> bool:
    """Whether an instance with these bytes is in the index (the listener's recovery after a crash)."""
    return session.scalar(select(ImagingInstance.id).where(ImagingInstance.sha256 == sha256).limit(1)) is not None


def count_instances(session: Session) -> int:
    return session.scalar(select(func.count(ImagingInstance.id))) or 0


# --- the fast path -------------------------------------------------------------------------------------------
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
            statements = dict(SQL)
        elif dialect.driver == "psycopg":
            statements = {k: _NAMED.sub(r"%(\1)s", v) for k, v in SQL.items()}
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
        cursor.execute(self.statements["copies"], {"sop": header.sop_instance_uid})
        if cursor.fetchone() is not None:
            return False
        cursor.execute(self.statements["series"], {"uid": header.series_uid})
        series = cursor.fetchone()
        if series is None or series[2] != StudyState.RECEIVING.value:
            return False
        series_id, study_id = series[0], series[1]
        when = self.to_db_time(at)
        cursor.execute(self.statements["bump_receiving_study"], {"id": study_id, "at": when, "n": 1})
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
        cursor.fetchall()  # the RETURNING row
        cursor.execute(self.statements["bump_series"], {"id": series_id})
        return True
