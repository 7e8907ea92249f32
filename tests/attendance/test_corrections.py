"""Issue 13: a live page that forgives — disciplines from the list ("sonstige" never counts), correcting and undoing
a check-in with a reason, leaving and returning, the allowed window named, no signature before the start."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.protocol.scenario import minutes
from tests.protocol.test_services import _full_house, _record, _sign
from tumorboard.attendance import services as att
from tumorboard.attendance.models import Attendance, AttendanceMode
from tumorboard.audit.models import AuditEvent
from tumorboard.audit.tags import Tag
from tumorboard.auth.services import actor_for
from tumorboard.errors import Conflict, InvalidInput
from tumorboard.protocol import services as proto


def _guest(db, sc, at, discipline, other=None, name="Dr. Extern"):
    return att.check_in(db, sc.cs, user=None, name=name, institution="Klinik Nord", discipline=discipline,
                        other_discipline=other, mode="video", recorded_by=sc.coordinator,
                        signed=proto.is_signed(db, sc.cs), at=at, actor=actor_for(sc.coordinator))  # fmt: skip


def _events(db, tag):
    return db.scalars(select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id)).all()


def test_a_discipline_outside_the_list_is_refused_with_a_message_naming_it(db_session, scenario):
    sc, db = scenario, db_session
    with pytest.raises(InvalidInput) as info:
        _guest(db, sc, minutes(sc, 1), "Thorax-Chirurgie")
    assert info.value.field == "discipline" and "Thorax-Chirurgie" in info.value.message % info.value.params


def test_a_listed_discipline_is_stored_in_its_canonical_spelling_and_counts(db_session, scenario):
    sc, db = scenario, db_session
    row = _guest(db, sc, minutes(sc, 1), "radiologie")
    assert row.discipline == "Radiologie" and row.counts_for_quorum
    assert "Radiologie" not in att.live_quorum(db, sc.cs, minutes(sc, 2)).missing


def test_sonstige_is_kept_as_text_and_never_counts_for_the_quorum(db_session, scenario):
    sc, db = scenario, db_session
    row = _guest(db, sc, minutes(sc, 1), "sonstige", other="Radiologie")
    assert row.discipline == "sonstige: Radiologie" and not row.counts_for_quorum
    assert "Radiologie" in att.live_quorum(db, sc.cs, minutes(sc, 2)).missing
    with pytest.raises(InvalidInput):
        _guest(db, sc, minutes(sc, 1), "sonstige", other="", name="Dr. Noch Einer")


def test_the_window_message_names_the_allowed_times(db_session, scenario):
    sc, db = scenario, db_session
    with pytest.raises(InvalidInput) as info:
        att.check_in(db, sc.cs, user=sc.radiologist, mode="in_person", recorded_by=sc.coordinator, signed=False,
                     at=minutes(sc, 1), arrived_at=minutes(sc, -300), actor=actor_for(sc.coordinator))  # fmt: skip
    text = info.value.message % info.value.params
    first, last = att.arrival_window(sc.cs)
    assert first.astimezone(att._berlin()).strftime("%d.%m.%Y %H:%M") in text
    assert last.astimezone(att._berlin()).strftime("%d.%m.%Y %H:%M") in text


def test_leave_and_return_makes_a_second_row_and_counts_again(db_session, scenario):
    sc, db = scenario, db_session
    rad, _, _ = _full_house(db, sc)
    att.leave(db, rad, signed=False, at=minutes(sc, 10), actor=actor_for(sc.coordinator))
    assert "Radiologie" in att.live_quorum(db, sc.cs, minutes(sc, 11)).missing
    with pytest.raises(InvalidInput):  # back before leaving: refused
        att.check_in(db, sc.cs, user=sc.radiologist, mode="video", recorded_by=sc.coordinator, signed=False,
                     at=minutes(sc, 12), arrived_at=minutes(sc, 9), actor=actor_for(sc.coordinator))  # fmt: skip
    back = att.check_in(db, sc.cs, user=sc.radiologist, mode="video", recorded_by=sc.coordinator, signed=False,
                        at=minutes(sc, 12), actor=actor_for(sc.coordinator))  # fmt: skip
    assert back.id != rad.id and att.live_quorum(db, sc.cs, minutes(sc, 13)).met
    with pytest.raises(Conflict):  # while present, a second check-in is still refused
        att.check_in(db, sc.cs, user=sc.radiologist, mode="video", recorded_by=sc.coordinator, signed=False,
                     at=minutes(sc, 14), actor=actor_for(sc.coordinator))  # fmt: skip
    assert _events(db, Tag.ATTENDANCE_CHECK_IN)[-1].after["returned"] is True


def test_a_correction_needs_a_reason_and_audits_before_and_after(db_session, scenario):
    sc, db = scenario, db_session
    row = _guest(db, sc, minutes(sc, 1), "sonstige", other="Thorax-Chirurgie")
    with pytest.raises(InvalidInput) as info:
        att.correct_attendance(db, row, arrived_at=None, left_at=None, mode="video", discipline="Radiologie",
                               reason="", signed=False, at=minutes(sc, 5), actor=actor_for(sc.coordinator))  # fmt: skip
    assert info.value.field == "reason"
    att.correct_attendance(db, row, arrived_at=minutes(sc, 0), left_at=None, mode="in_person",
                           discipline="Radiologie", reason="Fachrichtung falsch erfasst", signed=False,
                           at=minutes(sc, 5), actor=actor_for(sc.coordinator))  # fmt: skip
    assert row.discipline == "Radiologie" and row.mode is AttendanceMode.IN_PERSON and row.counts_for_quorum
    (event,) = _events(db, Tag.ATTENDANCE_CORRECT)
    assert event.before == {"arrived_at": minutes(sc, 1).isoformat(), "mode": "video",
                            "discipline": "sonstige: Thorax-Chirurgie"}  # fmt: skip
    assert event.after["discipline"] == "Radiologie" and event.reason == "Fachrichtung falsch erfasst"


def test_undo_removes_the_row_keeps_it_in_the_audit_log_and_is_refused_when_listed(db_session, scenario):
    sc, db = scenario, db_session
    rad, _, _ = _full_house(db, sc)
    wrong = _guest(db, sc, minutes(sc, 1), "Pathologie", name="Dr. Falsche Sitzung")
    att.undo_check_in(db, wrong, reason="falsche Sitzung", signed=False, listed=proto.is_listed(db, wrong),
                      at=minutes(sc, 2), actor=actor_for(sc.coordinator))  # fmt: skip
    assert db.get(Attendance, wrong.id) is None
    (event,) = _events(db, Tag.ATTENDANCE_UNDO)
    assert event.before["name"] == "Dr. Falsche Sitzung" and event.reason == "falsche Sitzung"
    _record(db, sc, sc.cases[0], minutes(sc, 5))
    with pytest.raises(Conflict):
        att.undo_check_in(db, rad, reason="Versehen", signed=False, listed=proto.is_listed(db, rad),
                          at=minutes(sc, 6), actor=actor_for(sc.coordinator))  # fmt: skip


def test_nothing_is_corrected_or_undone_after_signing_and_signing_waits_for_the_start(db_session, scenario):
    sc, db = scenario, db_session
    rad, _, _ = _full_house(db, sc)
    _record(db, sc, sc.cases[0], minutes(sc, 5))
    with pytest.raises(Conflict) as info:
        _sign(db, sc, minutes(sc, -8))
    assert "ab Beginn der Sitzung" in info.value.message
    version = _sign(db, sc, minutes(sc, 30))
    signed = proto.is_signed(db, sc.cs)
    with pytest.raises(Conflict):
        att.correct_attendance(db, rad, arrived_at=minutes(sc, 2), left_at=None, mode="video", discipline=None,
                               reason="zu spät bemerkt", signed=signed, at=minutes(sc, 40),
                               actor=actor_for(sc.coordinator))  # fmt: skip
    with pytest.raises(Conflict):
        att.undo_check_in(db, rad, reason="zu spät bemerkt", signed=signed, listed=False, at=minutes(sc, 40),
                          actor=actor_for(sc.coordinator))  # fmt: skip
    assert version.sha256 == proto.versions(db, sc.cs)[0].sha256
