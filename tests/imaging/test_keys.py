"""Issue 12, point 1: a study, series or instance whose UID cannot be a key is stored under a server-generated key,
not refused — the same key for every instance of it and for every resend — and the value received is kept for the
record. Header level (no database) and index level (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from sqlalchemy import func, select

from tests.conftest import NOW
from tests.imaging.dicomfiles import ct_dataset
from tests.imaging.factories import LISTENER, make_case, receive
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.imaging.cli import study_json
from tumorboard.imaging.dicom.dataset import (
    DatasetMismatch,
    Header,
    read_header,
    record_value,
    server_key,
    valid_uid,
)
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.matching import triage_inbox
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy
from tumorboard.imaging.services import complete_quiet_studies, generated_instance_keys
from tumorboard.imaging.synthetic import store_as_received
from tumorboard.partners.services import create_partner

STUDY = "1.2.826.0.1.3680043.9.7777.12"
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"


def _instance(number: int = 1, **changes: object) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values these tests mean to send
        ds = ct_dataset(study_uid=STUDY, series_uid=STUDY + ".1", number=number, accession="ACC-12")
        for keyword, value in changes.items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
    return ds


def _header(ds: Dataset, *, sop_class: str | None = None, sop_instance: str | None = None) -> Header:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True)
    return read_header(
        io.BytesIO(buffer.getvalue()),
        sop_class_uid=sop_class or str(ds.SOPClassUID),
        sop_instance_uid=sop_instance if sop_instance is not None else str(ds.get("SOPInstanceUID", "")),
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
    )


def test_usable_uids_are_their_own_keys_padding_and_leading_zeros_included():
    header = _header(_instance(StudyInstanceUID="1.2.840.10008.05.1 ", SeriesInstanceUID="1.2.840.10008.05.1.1\0"))
    assert (header.study_uid, header.series_uid) == ("1.2.840.10008.05.1", "1.2.840.10008.05.1.1")
    assert (header.received_study_uid, header.received_series_uid, header.received_sop_instance_uid) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("keyword", "received", "recorded"),
    [
        ("StudyInstanceUID", "1.2.3.abc", "1.2.3.abc"),
        ("StudyInstanceUID", "1." + "2" * 100, "1." + "2" * 100),  # longer than 64: never cut to a valid UID
        ("StudyInstanceUID", "../../etc/passwd", "../../etc/passwd"),
        ("StudyInstanceUID", None, ""),  # missing
        ("StudyInstanceUID", "", ""),  # present, empty
        ("SeriesInstanceUID", "Serie 1", "Serie 1"),
        ("SeriesInstanceUID", None, ""),
    ],
)
def test_an_unusable_uid_gets_a_generated_key_the_same_on_every_resend(keyword, received, recorded):
    first = _header(_instance(1, **{keyword: received}))
    again = _header(_instance(1, **{keyword: received}))
    sibling = _header(_instance(2, **{keyword: received}))  # another instance of the same study and series
    field = "study_uid" if keyword == "StudyInstanceUID" else "series_uid"
    key = getattr(first, field)
    assert valid_uid(key) and key.startswith("2.25.") and len(key) <= 64
    assert getattr(again, field) == key and getattr(sibling, field) == key
    assert getattr(first, f"received_{field}") == recorded
    # A different broken value is a different study or series; the other keys stay as received.
    other = _header(_instance(1, **{keyword: "1.2.3.xyz"}))
    assert getattr(other, field) != key
    if field == "study_uid":
        assert first.series_uid == STUDY + ".1" and first.received_series_uid is None
    else:
        assert first.study_uid == STUDY and first.received_study_uid is None


def test_a_missing_study_uid_groups_by_what_the_study_has_in_common():
    one = _header(_instance(1, StudyInstanceUID=None))
    two = _header(_instance(2, StudyInstanceUID=None, SeriesInstanceUID=STUDY + ".2"))  # other series, same study
    other_patient = _header(_instance(3, StudyInstanceUID=None, PatientID="P-999"))
    assert one.study_uid == two.study_uid != other_patient.study_uid
    # Nothing in common to group by: the study stands with its series.
    bare = {"PatientID": None, "AccessionNumber": None, "StudyDate": None, "StudyTime": None, "StudyID": None}
    alone = _header(_instance(4, StudyInstanceUID=None, **bare))
    assert alone.study_uid == server_key("study-of", STUDY + ".1")


def test_an_unusable_sop_instance_uid_gets_a_key_from_itself():
    ds = _instance(SOPInstanceUID="1.2.3.4.5.a")
    header = _header(ds)
    assert header.sop_instance_uid == server_key("instance", "1.2.3.4.5.a")
    assert header.received_sop_instance_uid == "1.2.3.4.5.a"


def test_request_and_data_set_that_disagree_are_a_mismatch_not_a_key():
    ds = _instance()
    with pytest.raises(DatasetMismatch):
        _header(ds, sop_instance="1.2.3.999")
    with pytest.raises(DatasetMismatch):
        _header(ds, sop_class=MR)
    # Padding is not a difference.
    assert _header(ds, sop_instance=str(ds.SOPInstanceUID) + " ").sop_instance_uid == str(ds.SOPInstanceUID)


def test_a_request_that_carries_the_first_64_characters_of_a_longer_uid_names_the_same_instance():
    """DCMTK's storescu cuts a UID to 64 characters for the request (storescp compares the cut values)."""
    long_uid = "1." + "3" * 98
    header = _header(_instance(SOPInstanceUID=long_uid), sop_instance=long_uid[:64])
    assert header.sop_instance_uid == server_key("instance", long_uid)
    assert header.received_sop_instance_uid == long_uid
    with pytest.raises(DatasetMismatch):
        _header(_instance(SOPInstanceUID=long_uid), sop_instance=long_uid[:63])


def test_the_recorded_value_is_short_and_has_no_control_characters():
    assert record_value("1.2\0.3\\4\r\n") == "1.2\\x00.3\\x5c4\\x0d\\x0a"
    assert len(record_value("9" * 5000)) == 200


# --- in the index -----------------------------------------------------------------------------------------------
@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    store = Spool(tmp_path / "store")
    store.create_folders()
    return store


def test_a_study_under_a_generated_key_is_indexed_kept_once_and_waits_in_triage(db_session, spool):
    partner = create_partner(db_session, name="Klinikum Alt", at=NOW, actor=CLI)
    # A case the accession number would assign it to: a study we grouped ourselves is never assigned automatically.
    make_case(db_session, NOW, partner=partner, accession="ACC-12")
    first = _instance(1, StudyInstanceUID="1.2.3.abc")
    second = _instance(2, StudyInstanceUID="1.2.3.abc")
    results = [
        store_as_received(db_session, spool, ds, partner_id=partner.id, calling_ae_title="ALT", at=NOW, actor=LISTENER)
        for ds in (first, second, first)  # the first one sent again
    ]
    db_session.commit()
    assert [r.created for r in results] == [True, True, False]
    study = db_session.get(ImagingStudy, results[0].study_id)
    assert study is not None and results[1].study_id == study.id
    assert study.study_uid == server_key("study", "1.2.3.abc") and study.received_study_uid == "1.2.3.abc"
    assert study.instance_count == 2 and study.case_id is None and study.suggestions
    assert [s.id for s in triage_inbox(db_session)] == [study.id]
    assert len(list((spool.objects).rglob("*.dcm"))) == 2
    receive_event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.tag == "imaging:study:receive", AuditEvent.subject_id == str(study.id))
    ).one()
    assert receive_event.after == {"partner_id": partner.id, "generated_key": True}
    # Not assigned when it completes either (the completion job matches again).
    complete_quiet_studies(db_session, at=NOW.replace(year=NOW.year + 1), actor=LISTENER)
    db_session.refresh(study)
    assert study.case_id is None
    assert study_json(study)["received_study_uid"] == "1.2.3.abc"


def test_generated_series_and_instance_keys_are_recorded_and_counted(db_session, spool):
    partner = create_partner(db_session, name="Klinikum Alt", at=NOW, actor=CLI)
    ds = _instance(1, SeriesInstanceUID=None, SOPInstanceUID="1.2.3.4.5.a")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = store_as_received(
            db_session, spool, ds, partner_id=partner.id, calling_ae_title="ALT", at=NOW, actor=LISTENER
        )
    db_session.commit()
    series = db_session.scalars(select(ImagingSeries)).one()
    instance = db_session.scalars(select(ImagingInstance)).one()
    assert valid_uid(series.series_uid) and series.received_series_uid == ""
    assert instance.sop_instance_uid == server_key("instance", "1.2.3.4.5.a")
    assert instance.received_sop_instance_uid == "1.2.3.4.5.a"
    assert generated_instance_keys(db_session, [result.study_id]) == {result.study_id: 1}
    # A valid study is matched as usual: only its own UID decides that.
    assert db_session.scalar(select(func.count(ImagingStudy.id)).where(ImagingStudy.received_study_uid.is_(None))) == 1


def test_a_nul_in_the_received_value_is_kept_escaped(db_session, spool):
    """PostgreSQL text cannot hold NUL: the recorded value escapes it."""
    partner = create_partner(db_session, name="Klinikum Alt", at=NOW, actor=CLI)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = receive(db_session, spool, partner, study_uid="1.2\x003.4")
    db_session.commit()
    assert study.received_study_uid == "1.2\\x003.4"
