"""Start-up reconciliation of the image store with the index, on real files: every object file indexed, every
index row with its file; repairs logged by ids only and audited. Also through a real listener process."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import func, select

from tests.conftest import NOW
from tests.imaging.dicomfiles import ct_dataset, storescu, write_study
from tests.imaging.factories import receive
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI, Actor
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy
from tumorboard.imaging.reconcile import reconcile_store
from tumorboard.partners.models import Partner
from tumorboard.partners.services import add_endpoint, create_partner

LISTENER = Actor.system("dicom-listener")
LATER = NOW + dt.timedelta(hours=1)


@pytest.fixture
def partner(db_session) -> Partner:
    p = create_partner(db_session, name="Klinikum Nord", at=NOW, actor=CLI)
    add_endpoint(db_session, p, ae_title="NORD", address="127.0.0.1", at=NOW, actor=CLI)
    return p


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    s = Spool(tmp_path / "imaging")
    s.prepare()
    return s


def _place(spool: Spool, **kw) -> str:
    """An object file placed the way the listener places it, without an index row (killed before the commit)."""
    temp = spool.incoming / "orphan.part"
    ct_dataset(**kw).save_as(temp, enforce_file_format=True)
    return spool.place(temp).sha256


def test_reconciliation_indexes_orphans_and_drops_rows_without_files(db_session, spool, partner, caplog):
    study = receive(db_session, spool, partner, number=1, patient_name="Nordmann^Erika")
    receive(db_session, spool, partner, number=2, patient_name="Nordmann^Erika")
    series = study.series[0]
    rows = db_session.scalars(select(ImagingInstance).order_by(ImagingInstance.id)).all()
    # 1. the file of an indexed instance is lost
    spool.object_path(rows[0].sha256).unlink()
    # 2. an object of the known series whose commit never happened
    orphan = _place(spool, study_uid=study.study_uid, series_uid=series.series_uid, number=3,
                    patient_name="Nordmann^Erika")  # fmt: skip
    # 3. an object of a study nobody sent before: which partner sent it cannot be known
    stranger = _place(spool, study_uid="1.2.826.0.1.99", series_uid="1.2.826.0.1.99.1", number=1,
                      patient_name="Fremd^Franz")  # fmt: skip
    # 4. a file a retention purge left behind after its commit
    purged = rows[1]
    purged.deleted_at = NOW
    db_session.flush()
    db_session.commit()

    with caplog.at_level(logging.INFO):
        result = reconcile_store(db_session, spool, at=LATER, actor=LISTENER)
    db_session.commit()
    for relative in result.remove_after_commit:
        spool.remove(relative)

    assert len(result.indexed) == 1 and result.quarantined == 1 and result.missing == (rows[0].id,)
    assert result.remove_after_commit == (spool.object_relative(purged.sha256),)
    db_session.expire_all()
    live = db_session.scalars(select(ImagingInstance).where(ImagingInstance.deleted_at.is_(None))).all()
    assert {i.sha256 for i in live} == {orphan}
    assert {p.stem for p in spool.objects.rglob("*.dcm")} == {orphan}  # every file indexed, every row has its file
    assert (spool.root / "quarantine" / f"{stranger}.dcm").is_file()
    new = db_session.get(ImagingInstance, result.indexed[0])
    assert new is not None and new.series_id == series.id and new.instance_number == 3
    # counts: two received, one lost (−1), one purged row stays counted as the record, one orphan (+1)
    assert db_session.get(ImagingSeries, series.id).instance_count == 2
    assert db_session.get(ImagingStudy, study.id).instance_count == 2
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "imaging:store:reconcile")).one()
    assert event.actor_label == "system:dicom-listener"
    assert event.after == {
        "indexed_instance_ids": list(result.indexed),
        "quarantined_files": 1,
        "missing_instance_ids": [rows[0].id],
        "purged_files_removed": 1,
    }
    assert "Nordmann" not in caplog.text and "Fremd" not in caplog.text  # ids only
    assert f"instances [{rows[0].id}]" in caplog.text

    # A second run finds nothing to repair and audits nothing.
    again = reconcile_store(db_session, spool, at=LATER, actor=LISTENER)
    assert not again.repaired
    assert db_session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.tag == "imaging:store:reconcile")) == 1


def test_an_orphan_of_a_study_under_a_generated_key_finds_its_study(db_session, spool, partner):
    """Issue 12: the key is derived from the file again, so an uncommitted instance of a study whose Study Instance
    UID was unusable joins that study instead of going to quarantine."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid UI value
        study = receive(db_session, spool, partner, number=1, study_uid="1.2.3.abc", series_uid="1.2.3.4")
        orphan = _place(spool, study_uid="1.2.3.abc", series_uid="1.2.3.4", number=2)
    db_session.commit()
    assert study.study_uid.startswith("2.25.") and study.received_study_uid == "1.2.3.abc"
    result = reconcile_store(db_session, spool, at=LATER, actor=LISTENER)
    db_session.commit()
    assert len(result.indexed) == 1 and result.quarantined == 0
    new = db_session.get(ImagingInstance, result.indexed[0])
    assert new is not None and new.sha256 == orphan and new.series.study_id == study.id
    db_session.refresh(study)
    assert study.instance_count == 2


@pytest.mark.db
def test_listener_reconciles_before_it_accepts_associations(listener, listener_sessions, tmp_path):
    study_uid, files = write_study(tmp_path / "out", series=1, per_series=4, size=32)
    result = storescu(listener.port, files)
    assert result.returncode == 0, result.stderr[-2000:]
    listener.stop()
    store = Spool(listener.storage)
    with listener_sessions() as session:
        shas = session.scalars(select(ImagingInstance.sha256).order_by(ImagingInstance.instance_number)).all()
    store.object_path(shas[0]).unlink()  # lost
    extra = write_study(tmp_path / "late", series=1, per_series=1, size=32, study_uid=study_uid)[1][0]
    ds = dcmread(extra)
    ds.SeriesInstanceUID = str(dcmread(files[0]).SeriesInstanceUID)
    ds.InstanceNumber = 9
    temp = store.incoming / "late.part"
    ds.save_as(temp, enforce_file_format=True)
    orphan = store.place(temp).sha256  # renamed into place, never committed

    listener.start()
    with listener_sessions() as session:
        indexed = set(session.scalars(select(ImagingInstance.sha256)).all())
        assert indexed == {p.stem for p in (listener.storage / "objects").rglob("*.dcm")}
        assert orphan in indexed and shas[0] not in indexed
        assert session.scalars(select(ImagingStudy.instance_count)).one() == 4
        assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.tag == "imaging:store:reconcile")) == 1
    assert "store reconciled: 1 files indexed" in listener.log.read_text()
    # and it serves again: the resend of everything indexes the lost instance once more
    result = storescu(listener.port, files)
    assert result.returncode == 0, result.stderr[-2000:]
    with listener_sessions() as session:
        assert session.scalar(select(func.count(ImagingInstance.id))) == 5
