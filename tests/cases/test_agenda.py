"""Agenda freezing and versions, with an injected clock (conftest's FixedClock at Mon 2026-11-23 09:00 Berlin).

The test board meets on Tuesdays 15:15; its deadline is one working day before, 12:00 — for the session of
Tue 24.11.2026 that is Mon 23.11.2026 12:00 Berlin (11:00 UTC).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.cases.factories import make_patient, register, upcoming_sessions
from tests.factories import make_board, make_user
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import SCHEDULER
from tumorboard.auth.services import actor_for
from tumorboard.cases import services as cases
from tumorboard.cases.agenda import agenda_version, current_agenda, freeze_due_agendas, versions
from tumorboard.cases.jobs import freeze_agendas
from tumorboard.conferences.services import registration_deadline
from tumorboard.errors import PermissionDenied

DEADLINE = dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(db_session, clock):
    at = clock.now()
    board = make_board(db_session, at)
    physician = make_user(db_session, at, role="physician")
    coordinator = make_user(db_session, at, role="coordinator")
    first, second, *_ = upcoming_sessions(db_session, board, at)
    assert registration_deadline(first) == DEADLINE
    return board, physician, coordinator, first, second


def test_job_freezes_at_the_deadline_not_before(runtime, db_session, clock, world):
    board, physician, _, first, second = world
    a = register(db_session, board, at=clock.now(), by=physician, patient=make_patient(db_session, clock.now()))
    b = register(
        db_session, board, at=clock.now(), by=physician, patient=make_patient(db_session, clock.now(), "Özdemir")
    )
    assert a.session_id == b.session_id == first.id
    db_session.commit()

    clock.current = DEADLINE - dt.timedelta(minutes=1)
    assert freeze_agendas(runtime) == 0
    assert versions(db_session, first) == []
    assert current_agenda(db_session, first, at=clock.now()).version is None  # the live draft

    clock.current = DEADLINE
    assert freeze_agendas(runtime) == 1
    assert freeze_agendas(runtime) == 0  # idempotent: a coalesced or repeated run does nothing
    [v1] = versions(db_session, first)
    assert v1.version == 1 and v1.created_by == SCHEDULER.label and v1.created_at == DEADLINE
    agenda = current_agenda(db_session, first, at=clock.now())
    assert agenda.version == 1
    assert [(e.number, e.case_id, e.change) for e in agenda.entries] == [(1, a.id, None), (2, b.id, None)]
    assert versions(db_session, second) == []  # the next session's deadline is a week away
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.tag == "case:agenda:version"))
    assert event is not None and event.actor_label == SCHEDULER.label


def test_registration_one_minute_after_deadline_goes_to_next_session_and_override_is_late(db_session, clock, world):
    board, physician, coordinator, first, second = world
    late_at = DEADLINE + dt.timedelta(minutes=1)
    just_in_time = register(db_session, board, at=DEADLINE - dt.timedelta(minutes=1), by=physician)
    assert just_in_time.session_id == first.id and not just_in_time.is_late

    follows = register(db_session, board, at=late_at, by=physician, patient=make_patient(db_session, late_at, "Weiß"))
    assert follows.session_id == second.id and not follows.is_late

    # a physician may not put it on the earlier session ...
    with pytest.raises(PermissionDenied):
        register(
            db_session,
            board,
            at=late_at,
            by=physician,
            target=first,
            patient=make_patient(db_session, late_at, "Groß"),
        )
    # ... the coordinator may, and it is marked late (Nachmeldung)
    late = register(
        db_session, board, at=late_at, by=coordinator, target=first, patient=make_patient(db_session, late_at, "Groß")
    )
    assert late.session_id == first.id and late.is_late
    entries = current_agenda(db_session, first, at=late_at).entries
    assert [(e.case_id, e.late) for e in entries] == [(just_in_time.id, False), (late.id, True)]


def test_versions_mark_added_moved_and_withdrawn_and_version_1_stays(db_session, clock, world):
    board, physician, coordinator, first, second = world
    at = clock.now()
    a, b, c = (
        register(db_session, board, at=at, by=physician, patient=make_patient(db_session, at, name))
        for name in ("Ährenfeld", "Brückner", "Çelik")
    )
    assert freeze_due_agendas(db_session, at=DEADLINE, actor=SCHEDULER) == 1
    v1_snapshot = [dict(e) for e in versions(db_session, first)[0].snapshot["entries"]]

    t = DEADLINE + dt.timedelta(hours=1)
    coord = actor_for(coordinator)
    late = register(db_session, board, at=t, by=coordinator, target=first, patient=make_patient(db_session, t, "Dörr"))
    cases.move_case(db_session, b, second, reason="Histologie fehlt noch", at=t, actor=coord)
    cases.withdraw_case(db_session, c, reason="Patient verstorben", at=t, actor=coord)

    rows = versions(db_session, first)
    assert [r.version for r in rows] == [1, 2, 3, 4]  # one new version per change
    # each version marks what changed since the previous one
    v2, v3, v4 = (agenda_version(first, r) for r in rows[1:])
    marks = lambda agenda: {e.case_id: (e.number, e.change, e.late) for e in agenda.entries}  # noqa: E731
    assert marks(v2) == {
        a.id: (1, None, False),
        b.id: (2, None, False),
        c.id: (3, None, False),
        late.id: (4, "added", True),
    }
    assert marks(v3) == {
        a.id: (1, None, False),
        c.id: (2, None, False),
        late.id: (3, None, True),
        b.id: (None, "moved_out", False),
    }
    assert marks(v4) == {a.id: (1, None, False), late.id: (2, None, True), c.id: (None, "withdrawn", False)}
    assert current_agenda(db_session, first, at=t).version == 4
    assert {e.case_id: e.note for e in v4.entries}[c.id] == "Patient verstorben"
    assert {e.case_id: e.note for e in v3.entries}[b.id] == f"{board.short_name} 01.12.2026 15:15"
    # the moved case shows up on the other session's list (not frozen yet: the live draft)
    assert b.id in {e.case_id for e in current_agenda(db_session, second, at=t).entries}

    # version 1 is what was sent out: unchanged by everything after
    db_session.expire_all()
    assert versions(db_session, first)[0].snapshot["entries"] == v1_snapshot
    assert [e["case_id"] for e in v1_snapshot] == [a.id, b.id, c.id]
    assert all(e["change"] is None for e in v1_snapshot)


def test_reordering_a_frozen_list_makes_a_new_version(db_session, clock, world):
    board, physician, _, first, _ = world
    at = clock.now()
    a = register(db_session, board, at=at, by=physician)
    b = register(db_session, board, at=at, by=physician, patient=make_patient(db_session, at, "Zöller"))
    freeze_due_agendas(db_session, at=DEADLINE, actor=SCHEDULER)
    cases.reorder_cases(db_session, first, [b.id, a.id], at=DEADLINE + dt.timedelta(minutes=5), actor=SCHEDULER)
    agenda = current_agenda(db_session, first, at=DEADLINE)
    assert agenda.version == 2 and [e.case_id for e in agenda.entries] == [b.id, a.id]


def test_freeze_job_is_in_the_scheduler_table_every_five_minutes(runtime):
    from tumorboard.scheduler import JOBS, build_scheduler

    job = next(j for j in JOBS if j.id == "cases.freeze_agendas")
    assert job.func is freeze_agendas
    scheduled = next(j for j in build_scheduler(runtime).get_jobs() if j.id == "cases.freeze_agendas")
    assert scheduled.coalesce is True and scheduled.max_instances == 1
    assert str(scheduled.trigger.fields[6]) == "*/5"  # minute field of the cron trigger


def test_stored_change_marks_read_back_as_the_enum():
    """Snapshots keep the plain values; reading a version gives AgendaChange members (and None), and an unknown
    value fails loudly instead of printing no mark."""
    from tumorboard.cases.agenda import AgendaChange
    from tumorboard.cases.models import AgendaVersion

    entry = {
        "case_id": 1, "number": None, "patient_name": "A, B", "birth_date": "1950-01-01", "icd10": "C18.7",
        "icd10_text": "x", "conference_type": "praeth", "question": "q", "presenter": "", "late": False,
        "change": "withdrawn", "note": "Grund",
    }  # fmt: skip
    at = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    row = AgendaVersion(
        version=2, created_at=at, snapshot={"entries": [entry, {**entry, "case_id": 2, "change": None}]}
    )
    changes = [e.change for e in agenda_version(None, row).entries]  # type: ignore[arg-type]
    assert changes == [AgendaChange.WITHDRAWN, None] and changes[0].gone and not AgendaChange.ADDED.gone
    with pytest.raises(ValueError):
        agenda_version(
            None, AgendaVersion(version=3, created_at=at, snapshot={"entries": [{**entry, "change": "gone"}]})
        )  # type: ignore[arg-type]
