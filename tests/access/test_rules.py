"""The rules of issue 10 item 1 in the services, so that every route and the CLI follow them: who checks whom in
and out, who records, who signs and amends. Built on the protocol scenario: the radiologist moderates, the
gastroenterologist is a deputy, pathologist and oncologist are members; a urologist is no member."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import make_user
from tests.protocol.scenario import PASSWORD, minutes, rec_input
from tumorboard.attendance import services as att
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.services import actor_for
from tumorboard.errors import PermissionDenied
from tumorboard.protocol import services as proto


def _fake_pdf(data: proto.ProtocolData) -> bytes:
    return ("%PDF-1.7\n" + proto.protocol_text(data)).encode()


def _in(db, sc, user, *, by, at=None, **kw):
    return att.check_in(db, sc.cs, user=user, mode="in_person", recorded_by=by, signed=proto.is_signed(db, sc.cs),
                        at=at or minutes(sc, 0), actor=actor_for(by), **kw)  # fmt: skip


def _external(db, sc, *, by):
    return att.check_in(db, sc.cs, user=None, name="Dr. Gast", institution="Praxis", discipline="Pathologie",
                        mode="video", recorded_by=by, signed=proto.is_signed(db, sc.cs), at=minutes(sc, 0),
                        actor=actor_for(by))  # fmt: skip


def _sign(db, sc, user, at):
    return proto.sign_protocol(db, sc.cs, user=user, password=PASSWORD, render=_fake_pdf, at=at,
                               actor=actor_for(user))  # fmt: skip


def test_check_in_rules_and_the_acting_user_in_the_audit_log(db_session, scenario):
    sc, db = scenario, db_session
    urologist = make_user(db, sc.clock.now(), "physician", discipline="Urologie")
    with pytest.raises(PermissionDenied, match="Selbst einchecken können nur Mitglieder"):
        _in(db, sc, urologist, by=urologist)
    with pytest.raises(PermissionDenied, match="Andere Personen checkt nur"):
        _in(db, sc, sc.radiologist, by=sc.pathologist)  # a member checks in only themself
    with pytest.raises(PermissionDenied, match="Externe Gäste checkt nur"):
        _external(db, sc, by=sc.pathologist)
    own = _in(db, sc, sc.pathologist, by=sc.pathologist)
    _in(db, sc, urologist, by=sc.gastro)  # the deputy checks in a guest colleague, not being checked in himself
    _external(db, sc, by=sc.radiologist)
    _in(db, sc, sc.oncologist, by=sc.coordinator)
    events = db.scalars(select(AuditEvent).where(AuditEvent.tag == "attendance:participant:check_in")).all()
    assert [e.actor_label for e in events] == [f"user:{u.username}" for u in
                                               (sc.pathologist, sc.gastro, sc.radiologist, sc.coordinator)]  # fmt: skip
    assert events[0].after["self"] is True and events[1].after["self"] is False
    # departures: one's own, or the coordinator's and the moderation's
    onc = db.scalar(select(att.Attendance).where(att.Attendance.user_id == sc.oncologist.id))
    with pytest.raises(PermissionDenied, match="Das Gehen anderer"):
        att.leave(db, onc, signed=proto.is_signed(db, sc.cs), at=minutes(sc, 10), actor=actor_for(sc.pathologist))
    att.leave(db, own, signed=proto.is_signed(db, sc.cs), at=minutes(sc, 10), actor=actor_for(sc.pathologist))
    att.leave(db, onc, signed=proto.is_signed(db, sc.cs), at=minutes(sc, 11), actor=actor_for(sc.gastro))


def test_recording_signing_and_amending_only_by_the_checked_in_moderation(db_session, scenario):
    sc, db = scenario, db_session
    for user in (sc.pathologist, sc.oncologist, sc.gastro):
        _in(db, sc, user, by=sc.coordinator)
    with pytest.raises(PermissionDenied, match="Empfehlungen erfasst nur"):
        proto.record_recommendation(db, sc.cases[0], rec_input(), user=sc.pathologist, at=minutes(sc, 5),
                                    actor=actor_for(sc.pathologist), quorum_reason="Radiologie fehlt")  # fmt: skip
    proto.record_recommendation(db, sc.cases[0], rec_input(), user=sc.gastro, at=minutes(sc, 5),
                                actor=actor_for(sc.gastro), quorum_reason="Radiologie fehlt")  # fmt: skip
    with pytest.raises(PermissionDenied, match="Unterschreiben und Nachträge kann nur die Moderation"):
        _sign(db, sc, sc.pathologist, minutes(sc, 40))  # a member, checked in
    with pytest.raises(PermissionDenied, match="wer an dieser Sitzung teilgenommen hat und eingecheckt ist"):
        _sign(db, sc, sc.radiologist, minutes(sc, 40))  # the moderator, never checked in
    _sign(db, sc, sc.gastro, minutes(sc, 40))  # the deputy, checked in
    amend = rec_input(therapy_types=["CH"], text="Nur Chemotherapie")

    def amend_as(user):
        return proto.amend_recommendation(db, sc.cases[0], amend, reason="Korrektur", user=user, password=PASSWORD,
                                          render=_fake_pdf, at=minutes(sc, 60), actor=actor_for(user))  # fmt: skip

    with pytest.raises(PermissionDenied, match="eingecheckt"):
        amend_as(sc.radiologist)
    with pytest.raises(PermissionDenied, match="nur die Moderation"):
        amend_as(sc.oncologist)
    assert amend_as(sc.gastro).version == 2
    signed = db.scalars(select(AuditEvent.actor_label).where(AuditEvent.tag.in_(
        ("protocol:version:sign", "protocol:recommendation:amend")))).all()  # fmt: skip
    assert signed == [f"user:{sc.gastro.username}"] * 2
