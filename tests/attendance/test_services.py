"""Check-in, leaving, present-at and the live quorum (groups "all of" / "one of", substitutes)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from tests.protocol.scenario import EFN, minutes
from tumorboard.attendance import services as att
from tumorboard.attendance.models import Attendance
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.services import actor_for
from tumorboard.errors import Conflict, InvalidInput
from tumorboard.protocol import services as proto

ONE_OF = "Gastroenterologie / Hämatologie/Onkologie"


def _in(db, sc, user, at, **kw):
    return att.check_in(db, sc.cs, user=user, mode=kw.pop("mode", "in_person"), recorded_by=sc.coordinator,
                        signed=proto.is_signed(db, sc.cs), at=at, actor=actor_for(sc.coordinator), **kw)  # fmt: skip


def _count(db) -> int:
    return db.scalar(select(func.count(Attendance.id))) or 0


def test_quorum_turns_from_missing_to_complete_and_back_as_people_come_and_go(db_session, scenario):
    sc, db = scenario, db_session
    missing = att.live_quorum(db, sc.cs, minutes(sc, 0)).missing
    assert set(missing) == {"Pathologie", "Radiologie", ONE_OF}
    _in(db, sc, sc.radiologist, minutes(sc, 1), mode="video")
    _in(db, sc, sc.pathologist, minutes(sc, 2))
    assert att.live_quorum(db, sc.cs, minutes(sc, 2)).missing == (ONE_OF,)
    onc = _in(db, sc, sc.oncologist, minutes(sc, 3))
    assert att.live_quorum(db, sc.cs, minutes(sc, 3)).met
    att.leave(db, onc, signed=proto.is_signed(db, onc.session), at=minutes(sc, 20), actor=actor_for(sc.coordinator))
    status = att.live_quorum(db, sc.cs, minutes(sc, 20))
    assert not status.met and status.missing == (ONE_OF,)
    assert att.live_quorum(db, sc.cs, minutes(sc, 10)).met  # "was present" at 10 past


def test_a_substitute_counts_for_the_discipline_they_stand_in_for(db_session, scenario):
    sc, db = scenario, db_session
    _in(db, sc, sc.radiologist, minutes(sc, 0))
    _in(db, sc, sc.oncologist, minutes(sc, 0))
    _in(db, sc, sc.gastro, minutes(sc, 0), stands_in_for_name="Dr. P. Pathologe", stands_in_for_discipline="Pathologie")
    status = att.live_quorum(db, sc.cs, minutes(sc, 1))
    assert status.met
    assert ("Pathologie", (sc.gastro.display_name,)) in status.groups[0].disciplines


def test_external_participant_with_institution_and_efn(db_session, scenario):
    sc, db = scenario, db_session
    row = _in(db, sc, None, minutes(sc, 0), name="Dr. Eva Extern", institution="Praxis Münster",
              discipline="Radiologie", efn=EFN, mode="video")  # fmt: skip
    assert row.is_external and row.efn == EFN and row.mode.value == "video"
    assert db.scalar(select(AuditEvent).where(AuditEvent.tag == "attendance:participant:check_in")) is not None


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"efn": "12345"}, "genau 15 Ziffern"),
        ({"efn": "8027612345678961"}, "genau 15 Ziffern"),
        ({"efn": "802761234567890"}, "Prüfziffer"),
        ({"name": ""}, "Namen"),
        ({"institution": ""}, "Institution"),
        ({"stands_in_for_name": "Dr. X"}, "Vertretung"),
        ({"mode": "telefon"}, "Video"),
    ],
)
def test_bad_external_input_is_refused_and_changes_nothing(db_session, scenario, kwargs, text):
    sc, db = scenario, db_session
    values = {"name": "Dr. Eva Extern", "institution": "Praxis", "discipline": "Radiologie", **kwargs}
    before = _count(db)
    with pytest.raises(InvalidInput) as err:
        _in(db, sc, None, minutes(sc, 0), **values)
    assert text in err.value.message
    assert _count(db) == before


def test_second_check_in_of_the_same_person_is_refused(db_session, scenario):
    sc, db = scenario, db_session
    _in(db, sc, sc.radiologist, minutes(sc, 0))
    with pytest.raises(Conflict) as err:
        _in(db, sc, sc.radiologist, minutes(sc, 5), mode="video")
    assert "bereits eingecheckt" in err.value.message
    _in(db, sc, None, minutes(sc, 0), name="Dr. Eva Extern", institution="Praxis", discipline="Radiologie")
    with pytest.raises(Conflict):
        _in(db, sc, None, minutes(sc, 1), name="dr. eva extern", institution="PRAXIS", discipline="Radiologie")
    assert _count(db) == 2


def test_leaving_before_arriving_is_refused_and_changes_nothing(db_session, scenario):
    sc, db = scenario, db_session
    row = _in(db, sc, sc.radiologist, minutes(sc, 10))
    with pytest.raises(InvalidInput) as err:
        att.leave(
            db,
            row,
            signed=proto.is_signed(db, row.session),
            left_at=minutes(sc, 5),
            at=minutes(sc, 30),
            actor=actor_for(sc.coordinator),
        )
    assert "nach der Ankunft" in err.value.message
    assert row.left_at is None
    with pytest.raises(InvalidInput):
        att.leave(
            db,
            row,
            signed=proto.is_signed(db, row.session),
            left_at=minutes(sc, 10),
            at=minutes(sc, 30),
            actor=actor_for(sc.coordinator),
        )
    att.leave(db, row, signed=proto.is_signed(db, row.session), at=minutes(sc, 30), actor=actor_for(sc.coordinator))
    with pytest.raises(Conflict):
        att.leave(db, row, signed=proto.is_signed(db, row.session), at=minutes(sc, 31), actor=actor_for(sc.coordinator))


def test_arrival_in_the_future_is_refused(db_session, scenario):
    sc, db = scenario, db_session
    with pytest.raises(InvalidInput):
        _in(db, sc, sc.radiologist, minutes(sc, 0), arrived_at=minutes(sc, 0) + dt.timedelta(minutes=5))
