"""The listener's DBAPI fast path for the common instance writes what the service writes, and declines every case
that needs the service (new series, a copy of a known instance, a study that is no longer receiving). Runs on
SQLite and again on PostgreSQL (psycopg's parameter style)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW
from tests.imaging.dicomfiles import ct_dataset
from tests.imaging.factories import receive
from tumorboard.auth.actors import CLI
from tumorboard.imaging import jobs
from tumorboard.imaging.dicom.dataset import Header, read_header
from tumorboard.imaging.index import FastIndex
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy, StudyState
from tumorboard.partners.services import create_partner

STUDY = "1.2.826.0.1.77"


def _header(number: int, series_uid: str = STUDY + ".1") -> Header:
    ds = ct_dataset(study_uid=STUDY, series_uid=series_uid, number=number)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return read_header(
        buffer,
        sop_class_uid=str(ds.SOPClassUID),
        sop_instance_uid=str(ds.SOPInstanceUID),
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
    )


@pytest.fixture
def first(runtime, db_session):
    """A study and series the index knows: its first instance went through the service."""
    partner = create_partner(db_session, name="Klinikum Nord", at=NOW, actor=CLI)
    study = receive(db_session, jobs._spool(runtime), partner, study_uid=STUDY)
    return study


def _fast(engine, db_session, header: Header, at: dt.datetime, sha: str = "ab" * 32) -> bool:
    fast = FastIndex.for_engine(engine)
    assert fast is not None  # both drivers CI runs on are covered
    return fast.ingest(
        db_session.connection(), header, sha256=sha, size=1234, calling_ae_title="NORD", peer_address="10.1.2.3", at=at
    )


def test_fast_path_indexes_like_the_service(engine, runtime, db_session, first):
    later = NOW + dt.timedelta(minutes=1)
    header = _header(2)
    assert _fast(engine, db_session, header, later) is True
    db_session.expire_all()
    row = db_session.scalars(
        select(ImagingInstance).where(ImagingInstance.sop_instance_uid == header.sop_instance_uid)
    ).one()
    service_row = db_session.scalars(select(ImagingInstance).where(ImagingInstance.id != row.id)).one()
    assert row.series_id == service_row.series_id and row.received_at == later  # the UTC time survives the round trip
    assert (row.sha256, row.size_bytes, row.conflicting, row.calling_ae_title, row.peer_address) == (
        "ab" * 32, 1234, False, "NORD", "10.1.2.3",
    )  # fmt: skip
    assert (row.sop_class_uid, row.transfer_syntax_uid, row.instance_number) == (
        service_row.sop_class_uid, service_row.transfer_syntax_uid, 2,
    )  # fmt: skip
    study = db_session.get(ImagingStudy, first.id)
    assert study.instance_count == 2 and study.last_received_at == later and study.state is StudyState.RECEIVING
    assert db_session.scalars(select(ImagingSeries)).one().instance_count == 2


def test_fast_path_declines_what_needs_the_service(engine, runtime, db_session, first):
    def count() -> int:
        return db_session.scalar(select(func.count()).select_from(ImagingInstance))

    assert _fast(engine, db_session, _header(2, series_uid=STUDY + ".9"), NOW) is False  # series not yet indexed
    known = db_session.scalars(select(ImagingInstance)).one()
    copy = _header(1)
    copy = Header(**{**copy.__dict__, "sop_instance_uid": known.sop_instance_uid})
    assert _fast(engine, db_session, copy, NOW) is False  # a copy: same bytes or a conflict, the service decides
    db_session.get(ImagingStudy, first.id).state = StudyState.COMPLETE
    db_session.flush()
    assert _fast(engine, db_session, _header(3), NOW) is False  # a late instance reopens: the service audits that
    assert count() == 1
    db_session.expire_all()
    assert db_session.get(ImagingStudy, first.id).instance_count == 1
