"""Study index services on SQLite and PostgreSQL: matching rules, triage suggestions, summaries, retention,
previews. Instances are ingested through the same code path the listener uses (header → spool → index)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from tests.conftest import NOW
from tests.imaging.dicomfiles import ct_dataset
from tests.imaging.factories import LISTENER, make_case, receive
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI, SCHEDULER, Actor
from tumorboard.cases.models import CaseStatus
from tumorboard.cli import main as _root_cli  # noqa: F401  (the root group imports imaging's: load it first)
from tumorboard.imaging import jobs
from tumorboard.imaging.cli import study_json
from tumorboard.imaging.dicom.dataset import BadDataset, read_header, valid_uid
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.matching import assign_study, name_variants
from tumorboard.imaging.models import ImagingInstance, ImagingStudy, MatchMethod, StudyState
from tumorboard.imaging.services import complete_quiet_studies
from tumorboard.imaging.summaries import imaging_summaries
from tumorboard.imaging.synthetic import store_as_received
from tumorboard.partners.models import Partner
from tumorboard.partners.services import add_endpoint, create_partner


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


def test_mueller_juergen_with_another_patient_id_is_suggested_first_but_not_assigned(db_session, spool, partner):
    target = make_case(db_session, NOW, family="Müller", given="Jürgen", birth=dt.date(1958, 3, 14))
    make_case(db_session, NOW, family="Müller", given="Anna", birth=dt.date(1970, 5, 1))
    make_case(db_session, NOW, family="Meier", given="Jürgen", birth=dt.date(1958, 3, 14))
    study = receive(
        db_session, spool, partner, patient_name="Mueller^Juergen", patient_id="X-77", birth_date="19580314"
    )
    assert study.case_id is None
    assert study.suggestions[0]["case_id"] == target.id
    assert study.suggestions[0]["score"] > study.suggestions[1]["score"]
    assert db_session.scalar(select(func.count()).where(AuditEvent.tag == "imaging:study:assign")) == 0


@pytest.mark.parametrize(
    "pn",
    ["MÃ¼ller^JÃ¼rgen", "Juergen^Mueller", "Dr. med. Müller^Jürgen", "MUELLER^JUERGEN^^Prof."],
)
def test_suggestions_fold_umlauts_titles_swaps_and_repair_utf8_read_as_latin1(db_session, spool, partner, pn):
    target = make_case(db_session, NOW, family="Müller", given="Jürgen", birth=dt.date(1958, 3, 14))
    make_case(db_session, NOW, family="Schmidt", given="Jürgen", birth=dt.date(1958, 3, 14))
    study = receive(db_session, spool, partner, patient_name=pn, patient_id="X-1", birth_date="19580314")
    assert study.case_id is None and study.suggestions[0]["case_id"] == target.id


def test_name_variants():
    assert ("mueller", "juergen") in name_variants("MÃ¼ller^JÃ¼rgen")
    assert ("mueller", "juergen") in name_variants("Dr. Müller^Jürgen")
    assert ("mueller", "juergen") in name_variants("Juergen^Mueller")


def test_deterministic_rules_partner_id_then_accession_then_our_number_with_birth_date(db_session, spool, partner):
    by_partner_id = make_case(db_session, NOW, partner=partner, partner_patient_id="N-1")
    by_accession = make_case(db_session, NOW, partner=partner, accession="ACC-9")
    by_number = make_case(db_session, NOW, patient_number="KIS-4711", birth=dt.date(1950, 2, 3))
    s1 = receive(db_session, spool, partner, study_uid="1.2.3.1", patient_id="N-1")
    s2 = receive(db_session, spool, partner, study_uid="1.2.3.2", patient_id="nope", accession="ACC-9")
    s3 = receive(db_session, spool, partner, study_uid="1.2.3.3", patient_id="KIS-4711", birth_date="19500203")
    # Our number with the wrong birth date is not enough; nor is the accession number of another partner.
    s4 = receive(db_session, spool, partner, study_uid="1.2.3.4", patient_id="KIS-4711", birth_date="19500204")
    assert (s1.case_id, s1.match_method) == (by_partner_id.id, MatchMethod.PARTNER_PATIENT_ID)
    assert (s2.case_id, s2.match_method) == (by_accession.id, MatchMethod.ACCESSION)
    assert (s3.case_id, s3.match_method) == (by_number.id, MatchMethod.PATIENT_NUMBER)
    assert s4.case_id is None
    # Received values are kept as they were.
    assert s3.patient_id == "KIS-4711" and s3.patient_name == "Testmann^Erika"
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "imaging:study:assign")).all()
    assert sorted(e.after["method"] for e in events) == ["accession", "partner_patient_id", "patient_number"]


def test_a_case_registered_after_the_study_arrived_is_matched_when_the_study_completes(db_session, spool, partner):
    study = receive(db_session, spool, partner, patient_id="N-5")
    assert study.case_id is None
    case = make_case(db_session, NOW, partner=partner, partner_patient_id="N-5")
    complete_quiet_studies(db_session, at=NOW + dt.timedelta(seconds=121), actor=SCHEDULER)
    assert study.state is StudyState.COMPLETE and study.case_id == case.id


def test_manual_assignment_is_audited_and_keeps_received_values(db_session, spool, partner):
    case = make_case(db_session, NOW, family="Müller", given="Jürgen")
    study = receive(db_session, spool, partner, patient_name="Mueller^Juergen", patient_id="X-77")
    coordinator = Actor(user_id=case.registered_by_id, label="koordination")
    assign_study(db_session, study, case, at=NOW, actor=coordinator)
    event_ = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "imaging:study:assign")).one()
    assert event_.actor_label == "koordination" and event_.after == {"case_id": case.id, "method": "manual"}
    assert study.patient_name == "Mueller^Juergen" and study.patient_id == "X-77"
    data = study_json(study)
    assert data["case_id"] == case.id and data["patient_name"] == "Mueller^Juergen" and data["instance_count"] == 1


def test_quiet_period_is_per_partner_and_a_late_instance_reopens(db_session, spool, partner):
    partner.quiet_period_seconds = 300
    study = receive(db_session, spool, partner)
    assert complete_quiet_studies(db_session, at=NOW + dt.timedelta(seconds=299), actor=SCHEDULER) == []
    assert complete_quiet_studies(db_session, at=NOW + dt.timedelta(seconds=300), actor=SCHEDULER) == [study]
    receive(db_session, spool, partner, number=2, at=NOW + dt.timedelta(seconds=400))
    assert study.state is StudyState.RECEIVING and study.completed_at is None and study.instance_count == 2


def test_summaries_take_a_fixed_number_of_queries(db_session, spool, partner, connection):
    cases = [make_case(db_session, NOW, partner=partner, partner_patient_id=f"S-{i}") for i in range(5)]
    for i in range(3):
        receive(db_session, spool, partner, study_uid=f"1.2.5.{i}", patient_id=f"S-{i}")
    db_session.flush()
    db_session.expunge_all()
    statements: list[str] = []
    listener = event.listen(connection, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        summaries = imaging_summaries(db_session, [c.id for c in cases])
    finally:
        event.remove(connection, "before_cursor_execute", listener) if listener else None
    assert len(statements) <= 3, statements
    assert [summaries[c.id].state for c in cases] == ["receiving"] * 3 + ["expected"] * 2
    assert summaries[cases[0].id].instance_count == 1 and summaries[cases[0].id].partner == "Klinikum Nord"


def test_retention_deletes_images_of_discussed_cases_after_the_configured_days(runtime, db_session, partner):
    spool = jobs._spool(runtime)
    old = make_case(db_session, NOW, partner=partner, partner_patient_id="R-1", session_offset_weeks=-6)
    recent = make_case(db_session, NOW, partner=partner, partner_patient_id="R-2", session_offset_weeks=-1)
    receive(db_session, spool, partner, study_uid="1.2.6.1", patient_id="R-1", at=NOW - dt.timedelta(days=60))
    receive(db_session, spool, partner, study_uid="1.2.6.2", patient_id="R-2", at=NOW - dt.timedelta(days=10))
    old.status = recent.status = CaseStatus.DISCUSSED
    db_session.commit()
    assert len(list(spool.objects.rglob("*.dcm"))) == 2
    assert jobs.purge_discussed(runtime) == 1
    assert jobs.purge_discussed(runtime) == 0  # idempotent
    studies = {s.study_uid: s for s in db_session.scalars(select(ImagingStudy)).all()}
    assert studies["1.2.6.1"].state is StudyState.PURGED and studies["1.2.6.2"].state is StudyState.RECEIVING
    assert len(list(spool.objects.rglob("*.dcm"))) == 1
    purged = db_session.scalars(select(ImagingInstance).where(ImagingInstance.deleted_at.is_not(None))).all()
    assert len(purged) == 1  # the record that the image existed stays
    event_ = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "imaging:study:purge")).one()
    assert event_.actor_label == "system:scheduler" and event_.after["retention_days"] == 30
    assert imaging_summaries(db_session, [old.id])[old.id].state == "purged"


def test_previews_window_a_middle_slice_or_say_why_not(runtime, db_session, partner):
    spool = jobs._spool(runtime)
    case = make_case(db_session, NOW, partner=partner, partner_patient_id="V-1")
    for n in range(1, 4):
        receive(db_session, spool, partner, study_uid="1.2.7.1", patient_id="V-1", number=n, size=64)
    # A second series in a transfer syntax nothing here decodes (MPEG-2): "keine Vorschau" with the reason.
    ds = ct_dataset(study_uid="1.2.7.1", series_uid="1.2.7.1.9", number=1, patient_id="V-1")
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3 not really mpeg"])
    store_as_received(db_session, spool, ds, partner_id=partner.id, calling_ae_title="NORD", at=NOW, actor=LISTENER)
    db_session.commit()
    assert jobs.render_previews(runtime) == 2
    assert jobs.render_previews(runtime) == 0  # nothing new
    summary = imaging_summaries(db_session, [case.id])[case.id]
    ok, broken = sorted(summary.previews, key=lambda p: p.preview_name is None)
    assert ok.preview_name and (spool.previews / ok.preview_name).read_bytes().startswith(b"\x89PNG")
    assert broken.preview_name is None and "MPEG2" in (broken.preview_error or "").replace("-", "")


def test_uid_validation_and_unreadable_objects():
    assert valid_uid("1.2.840.10008.5.1.4.1.1.2")
    # Issue 12: leading zeros are accepted, as DCMTK storescp and pynetdicom do (tests/imaging/test_differential.py).
    assert valid_uid("1.02.3") and valid_uid("1.2.840.10008.05.1")
    for bad in ("", "1", "1.2.abc", "../../etc/passwd", "1." + "2" * 70, "1..2", "1.2.", ".1.2"):
        assert not valid_uid(bad), bad


def test_read_header_refuses_garbage(tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"not dicom at all" * 10)
    with pytest.raises(BadDataset):
        read_header(junk, sop_class_uid="1.2.3", sop_instance_uid="1.2.3.4", transfer_syntax_uid="1.2.840.10008.1.2.1")
    with pytest.raises(BadDataset):
        read_header(junk, sop_class_uid="1.2.3", sop_instance_uid="../x", transfer_syntax_uid="1.2.840.10008.1.2.1")


def test_spool_is_content_addressed_and_idempotent(spool):
    first = spool.place(spool.write_temp(b"same bytes"))
    again = spool.place(spool.write_temp(b"same bytes"))
    assert first.created and not again.created and first.relative == again.relative
    assert first.relative == f"objects/{first.sha256[:2]}/{first.sha256}.dcm"
    assert list(spool.incoming.iterdir()) == []
    (spool.incoming / "left-by-a-crash.dcm").write_bytes(b"x")
    assert spool.prepare() == (1, 0) and list(spool.incoming.iterdir()) == []


def test_prepare_moves_an_indexed_leftover_into_place_and_removes_the_rest(tmp_path):
    """A crash after the commit but before the rename reached the disk: the row exists, the fsynced bytes are
    still in incoming/ — the next start puts them where the row says. Anything else left there is removed."""
    import hashlib

    spool = Spool(tmp_path / "store")
    spool.prepare()
    indexed_bytes, unfinished = b"complete and indexed", b"half a transf"
    sha = hashlib.sha256(indexed_bytes).hexdigest()
    (spool.incoming / "tmp1.dcm").write_bytes(indexed_bytes)
    (spool.incoming / "tmp2.dcm").write_bytes(unfinished)
    asked: list[str] = []

    def indexed(sha256: str) -> bool:
        asked.append(sha256)
        return sha256 == sha

    assert spool.prepare(indexed) == (1, 1)
    assert list(spool.incoming.iterdir()) == []
    assert spool.path(f"objects/{sha[:2]}/{sha}.dcm").read_bytes() == indexed_bytes
    assert sha in asked
    # Already in place: a second copy left in incoming/ is just removed.
    (spool.incoming / "tmp3.dcm").write_bytes(indexed_bytes)
    assert spool.prepare(indexed) == (1, 0)


def test_is_indexed(runtime, db_session):
    from tumorboard.imaging.index import is_indexed

    partner = create_partner(db_session, name="Klinikum Nord", at=NOW, actor=CLI)
    receive(db_session, jobs._spool(runtime), partner)
    sha = db_session.scalars(select(ImagingInstance.sha256)).one()
    assert is_indexed(db_session, sha) and not is_indexed(db_session, "0" * 64)


@pytest.mark.parametrize(
    ("pn", "sex", "active", "expected"),
    [
        ("Mueller^Juergen", "M", True, ("Mueller", "Juergen", "M", True)),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "M", True, ("Yamada", "Tarou", "M", True)),
        ("Wang^Xiao^Mei^Dr.", "F", False, ("Wang", "Xiao Mei", "W", False)),
        ("Solo", "O", True, ("Solo", "", "D", True)),
        ("", "", True, ("", "", "U", True)),
    ],
)
def test_registration_prefill_takes_the_received_values(pn, sex, active, expected):
    from tumorboard.imaging.matching import registration_prefill
    from tumorboard.imaging.models import ImagingStudy
    from tumorboard.partners.models import Partner

    partner = Partner(id=7, name="Klinikum", active=active)
    study = ImagingStudy(
        patient_name=pn, sex=sex, birth_date=dt.date(1958, 3, 14), patient_id="X-77", accession_number="A1",
        partner_id=7, partner=partner,
    )  # fmt: skip
    data = registration_prefill(study)
    family, given, our_sex, partner_kept = expected
    assert (data["family_name"], data["given_name"], data["sex"]) == (family, given, our_sex)
    assert data["referring_partner"] == (7 if partner_kept else 0)
    assert data["birth_date"] == dt.date(1958, 3, 14) and data["partner_patient_id"] == "X-77"
    assert data["accession_number"] == "A1" and data["imaging_expected"] is True
