"""Recommendations, quorum nonconformity, sign-off, immutability (service, model and database), amendments,
follow-up and re-presentation proposals."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from tests.protocol.scenario import PASSWORD, minutes, rec_input
from tumorboard.attendance import services as att
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.services import actor_for
from tumorboard.cases.models import CaseStatus
from tumorboard.errors import Conflict, InvalidInput, PermissionDenied
from tumorboard.protocol import services as proto
from tumorboard.protocol.models import LockedRecord, ProtocolVersion, Recommendation


def fake_pdf(data: proto.ProtocolData) -> bytes:
    """Stands in for WeasyPrint in service tests (the real PDF is tested in test_exports)."""
    return ("%PDF-1.7\n" + proto.protocol_text(data)).encode()


def _in(db, sc, user, at, **kw):
    return att.check_in(db, sc.cs, user=user, mode=kw.pop("mode", "in_person"), recorded_by=sc.coordinator,
                        signed=proto.is_signed(db, sc.cs), at=at, actor=actor_for(sc.coordinator), **kw)  # fmt: skip


def _full_house(db, sc):
    return [_in(db, sc, u, minutes(sc, 0)) for u in (sc.radiologist, sc.pathologist, sc.oncologist)]


def _record(db, sc, case, at, **kw):
    return proto.record_recommendation(db, case, kw.pop("data", rec_input()), user=sc.coordinator, at=at,
                                       actor=actor_for(sc.coordinator), **kw)  # fmt: skip


def _sign(db, sc, at, password=PASSWORD, user=None):
    user = user or sc.radiologist
    return proto.sign_protocol(db, sc.cs, user=user, password=password, render=fake_pdf, at=at,
                               actor=actor_for(user))  # fmt: skip


def test_recommendation_stores_participants_present_and_marks_the_case_discussed(db_session, scenario):
    sc, db = scenario, db_session
    rad, path, onc = _full_house(db, sc)
    gastro = _in(db, sc, sc.gastro, minutes(sc, 10))
    att.leave(db, onc, signed=proto.is_signed(db, onc.session), at=minutes(sc, 15), actor=actor_for(sc.coordinator))
    first = _record(db, sc, sc.cases[0], minutes(sc, 5))
    second = _record(db, sc, sc.cases[1], minutes(sc, 20), data=rec_input(therapy_types=["ST"], text="Radiatio"))
    assert {p.attendance_id for p in first.participants} == {rad.id, path.id, onc.id}
    assert {p.attendance_id for p in second.participants} == {rad.id, path.id, gastro.id}
    assert sc.cases[0].status is CaseStatus.DISCUSSED and first.quorum_met
    assert first.therapy_types == ["OP", "CH"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"therapy_types": []}, "therapy_types"),
        ({"therapy_types": ["XX"]}, "therapy_types"),
        ({"text": " "}, "text"),
        ({"trial_recommended": True}, "trial_name"),
        ({"guideline_deviation": True}, "deviation_reason"),
        ({"representation_wanted": True}, "representation"),
    ],
)
def test_incomplete_recommendation_is_refused(db_session, scenario, data, field):
    sc, db = scenario, db_session
    _full_house(db, sc)
    with pytest.raises(InvalidInput) as err:
        _record(db, sc, sc.cases[0], minutes(sc, 5), data=rec_input(**data))
    assert err.value.field == field
    assert db.scalar(select(func.count(Recommendation.id))) == 0


def test_without_quorum_a_reason_is_required_and_it_is_logged_as_nonconformity(db_session, scenario):
    sc, db = scenario, db_session
    _in(db, sc, sc.radiologist, minutes(sc, 0))
    with pytest.raises(InvalidInput) as err:
        _record(db, sc, sc.cases[0], minutes(sc, 5))
    assert err.value.field == "quorum_reason" and "Pathologie" in err.value.params["missing"]
    assert db.scalar(select(func.count(Recommendation.id))) == 0
    assert sc.cases[0].status is not CaseStatus.DISCUSSED
    rec = _record(
        db, sc, sc.cases[0], minutes(sc, 6), quorum_reason="Pathologie erkrankt, Befund liegt schriftlich vor"
    )
    assert not rec.quorum_met
    event = db.scalar(select(AuditEvent).where(AuditEvent.tag == "protocol:quorum:nonconformity"))
    assert event is not None and event.subject_id == str(rec.id)
    assert event.reason == "Pathologie erkrankt, Befund liegt schriftlich vor"
    assert "Pathologie" in event.after["missing"]


def test_sign_needs_the_right_password_and_attendance(db_session, scenario):
    sc, db = scenario, db_session
    _full_house(db, sc)
    rec = _record(db, sc, sc.cases[0], minutes(sc, 5))
    with pytest.raises(InvalidInput) as err:
        _sign(db, sc, minutes(sc, 50), password="falsch")
    assert "Passwort ist falsch" in err.value.message
    assert db.scalar(select(func.count(ProtocolVersion.id))) == 0 and rec.locked_at is None
    with pytest.raises(PermissionDenied):
        _sign(db, sc, minutes(sc, 50), user=sc.gastro)  # not checked in
    version = _sign(db, sc, minutes(sc, 50))
    assert version.version == 1 and version.sha256 == hashlib.sha256(version.pdf).hexdigest()
    assert rec.locked_at == minutes(sc, 50)
    with pytest.raises(Conflict):
        _sign(db, sc, minutes(sc, 51))


def test_after_signing_every_service_refuses_and_model_and_database_refuse_too(db_session, scenario):
    sc, db = scenario, db_session
    rad, _, _ = _full_house(db, sc)
    rec = _record(db, sc, sc.cases[0], minutes(sc, 5))
    _sign(db, sc, minutes(sc, 50))
    db.commit()
    coord = actor_for(sc.coordinator)
    with pytest.raises(Conflict):
        _record(db, sc, sc.cases[0], minutes(sc, 55), data=rec_input(text="geändert"))
    with pytest.raises(Conflict):
        _record(db, sc, sc.cases[1], minutes(sc, 55))
    with pytest.raises(Conflict):
        proto.correct_participant(db, rec, rad, present=False, reason="Fehler", at=minutes(sc, 55), actor=coord)
    with pytest.raises(Conflict):
        att.leave(db, rad, signed=proto.is_signed(db, rad.session), at=minutes(sc, 55), actor=coord)
    with pytest.raises(Conflict):
        _in(db, sc, sc.gastro, minutes(sc, 55))
    db.expire_all()
    rec = db.get(Recommendation, rec.id)
    assert rec.text == "Resektion, danach adjuvante Chemotherapie."
    rec.text = "heimlich geändert"
    with pytest.raises(LockedRecord):
        db.flush()
    db.rollback()
    # the database itself refuses, even past the ORM
    with pytest.raises(DatabaseError), db.begin_nested():
        db.execute(text("UPDATE recommendation SET text = 'x' WHERE id = :id"), {"id": rec.id})
    with pytest.raises(DatabaseError), db.begin_nested():
        db.execute(text("UPDATE protocol_version SET sha256 = 'x'"))
    with pytest.raises(DatabaseError), db.begin_nested():
        db.execute(text("DELETE FROM recommendation_participant"))


def test_amendment_makes_version_2_and_keeps_version_1_with_its_hash(db_session, scenario):
    sc, db = scenario, db_session
    _full_house(db, sc)
    _record(db, sc, sc.cases[0], minutes(sc, 5))
    v1 = _sign(db, sc, minutes(sc, 50))
    v1_pdf, v1_hash, v1_text = v1.pdf, v1.sha256, v1.text
    amend = rec_input(therapy_types=["OP"], text="Resektion; Chemotherapie erst nach Tumorboard-Wiedervorstellung.")
    with pytest.raises(InvalidInput):  # wrong password: nothing changes
        proto.amend_recommendation(db, sc.cases[0], amend, reason="Tippfehler", user=sc.radiologist,
                                   password="falsch", render=fake_pdf, at=minutes(sc, 120),
                                   actor=actor_for(sc.radiologist))  # fmt: skip
    with pytest.raises(InvalidInput):  # no reason
        proto.amend_recommendation(db, sc.cases[0], amend, reason="", user=sc.radiologist, password=PASSWORD,
                                   render=fake_pdf, at=minutes(sc, 120), actor=actor_for(sc.radiologist))  # fmt: skip
    assert len(proto.versions(db, sc.cs)) == 1
    v2 = proto.amend_recommendation(db, sc.cases[0], amend, reason="Chemotherapie war nicht beschlossen",
                                    user=sc.radiologist, password=PASSWORD, render=fake_pdf, at=minutes(sc, 120),
                                    actor=actor_for(sc.radiologist))  # fmt: skip
    db.commit()
    db.expire_all()
    found = proto.versions(db, sc.cs)
    assert [v.version for v in found] == [1, 2]
    assert found[0].pdf == v1_pdf and found[0].sha256 == v1_hash == hashlib.sha256(found[0].pdf).hexdigest()
    assert found[0].text == v1_text and found[0].reason is None
    assert v2.reason == "Chemotherapie war nicht beschlossen" and v2.signed_by_id == sc.radiologist.id
    assert v2.signed_at == minutes(sc, 120)
    diff = proto.version_diff(found[0], found[1])
    assert "-Therapietypen: OP, CH" in diff and "+Therapietypen: OP" in diff
    revisions = db.scalars(select(Recommendation).where(Recommendation.case_id == sc.cases[0].id)).all()
    assert sorted(r.revision for r in revisions) == [1, 2]
    assert all(r.locked_at is not None for r in revisions)
    assert proto.current_recommendation(db, sc.cases[0]).revision == 2
    assert db.scalar(select(AuditEvent).where(AuditEvent.tag == "protocol:recommendation:amend")) is not None


def test_correction_of_participants_before_signing(db_session, scenario):
    sc, db = scenario, db_session
    rad, path, onc = _full_house(db, sc)
    late = _in(db, sc, sc.gastro, minutes(sc, 10))
    rec = _record(db, sc, sc.cases[0], minutes(sc, 5))
    coord = actor_for(sc.coordinator)
    with pytest.raises(InvalidInput):
        proto.correct_participant(db, rec, late, present=True, reason="", at=minutes(sc, 11), actor=coord)
    proto.correct_participant(db, rec, late, present=True, reason="kam früher, Check-in verspätet",
                              at=minutes(sc, 11), actor=coord)  # fmt: skip
    proto.correct_participant(db, rec, onc, present=False, reason="war beim Fall nicht im Raum", at=minutes(sc, 11),
                              actor=coord)  # fmt: skip
    assert {p.attendance_id for p in rec.participants} == {rad.id, path.id, late.id}


def test_follow_up_and_representation_proposal(db_session, scenario):
    sc, db = scenario, db_session
    _full_house(db, sc)
    data = rec_input(representation_wanted=True, representation_date=sc.cs.local_start.date() + dt.timedelta(days=7))
    _record(db, sc, sc.cases[0], minutes(sc, 5), data=data)
    with pytest.raises(InvalidInput):
        proto.record_follow_up(db, sc.cases[0], status="deviated", cause=None, note="", user=sc.coordinator,
                               at=minutes(sc, 60), actor=actor_for(sc.coordinator))  # fmt: skip
    entry = proto.record_follow_up(
        db, sc.cases[0], status="deviated", cause="patient_wish", note="lehnt Chemo ab", user=sc.coordinator,
        at=minutes(sc, 60), actor=actor_for(sc.coordinator),
    )  # fmt: skip
    assert entry.cause.value == "patient_wish"
    assert proto.latest_follow_up(db, sc.cases[0]) is entry
    from tests.cases.factories import upcoming_sessions

    later = upcoming_sessions(db, sc.board, sc.cs.starts_at, weeks=3)
    next_week = [cs for cs in later if cs.starts_at > sc.cs.starts_at]
    assert [r.case_id for r in proto.representation_proposals(db, next_week[0])] == [sc.cases[0].id]
    assert proto.representation_proposals(db, sc.cs) == []
