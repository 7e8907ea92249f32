"""Board and session services against the real database (SQLite, and PostgreSQL in the second run)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.factories import board_input, make_board
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import ConferenceSession, HolidayPolicy, QuorumKind, SessionStatus
from tumorboard.conferences.quorum import QuorumSpec
from tumorboard.errors import Conflict, InvalidInput

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def _events(session, tag):
    return session.scalars(select(AuditEvent).where(AuditEvent.tag == tag)).all()


def _sessions(session, board):
    return session.scalars(
        select(ConferenceSession).where(ConferenceSession.board_id == board.id).order_by(ConferenceSession.starts_at)
    ).all()


def test_generation_is_idempotent_and_audited(db_session):
    board = make_board(db_session, NOW)
    first = conf.generate_sessions(
        db_session, start=dt.date(2026, 11, 23), end=dt.date(2027, 2, 15), at=NOW, actor=CLI, boards=[board]
    )
    again = conf.generate_sessions(
        db_session, start=dt.date(2026, 11, 23), end=dt.date(2027, 2, 15), at=NOW, actor=CLI, boards=[board]
    )
    assert len(first) == 12 and again == []
    assert len(_sessions(db_session, board)) == 12
    assert len(_events(db_session, "conference:session:generate")) >= 12
    assert all(cs.local_start.time() == dt.time(15, 15) for cs in first)


def test_holiday_policy_skip_and_keep(db_session):
    # Mondays around Easter 2027: 29 March is Ostermontag
    skip = make_board(db_session, NOW, rrule="FREQ=WEEKLY;BYDAY=MO")
    keep = make_board(db_session, NOW, rrule="FREQ=WEEKLY;BYDAY=MO", holiday_policy=HolidayPolicy.KEEP_FLAG)
    conf.generate_sessions(
        db_session, start=dt.date(2027, 3, 22), end=dt.date(2027, 4, 6), at=NOW, actor=CLI, boards=[skip, keep]
    )
    by_board = {b.id: {cs.series_date: cs for cs in _sessions(db_session, b)} for b in (skip, keep)}
    easter = dt.date(2027, 3, 29)
    assert by_board[skip.id][easter].status is SessionStatus.HOLIDAY
    assert by_board[keep.id][easter].status is SessionStatus.PLANNED
    assert by_board[keep.id][easter].holiday_name == "Ostermontag"
    assert by_board[skip.id][dt.date(2027, 3, 22)].status is SessionStatus.PLANNED


def test_cancel_requires_reason_and_changes_nothing_without(db_session):
    board = make_board(db_session, NOW)
    cs = conf.generate_sessions(
        db_session, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 2), at=NOW, actor=CLI, boards=[board]
    )[0]
    for reason in (None, "", "  ", "ab"):
        with pytest.raises(InvalidInput, match="Grund"):
            conf.cancel_session(db_session, cs, reason=reason, at=NOW, actor=CLI)
    assert cs.status is SessionStatus.PLANNED and cs.sequence == 0
    conf.cancel_session(db_session, cs, reason="Kongress DKK", at=NOW, actor=CLI)
    assert (cs.status, cs.sequence, cs.cancel_reason) == (SessionStatus.CANCELLED, 1, "Kongress DKK")
    [event] = _events(db_session, "conference:session:cancel")
    assert event.before["status"] == "planned" and event.after["status"] == "cancelled"
    assert event.reason == "Kongress DKK" and event.actor_label == "system:cli"
    with pytest.raises(Conflict):
        conf.cancel_session(db_session, cs, reason="nochmal", at=NOW, actor=CLI)


def test_cancelled_session_is_not_regenerated(db_session):
    board = make_board(db_session, NOW)
    cs = conf.generate_sessions(
        db_session, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 2), at=NOW, actor=CLI, boards=[board]
    )[0]
    conf.cancel_session(db_session, cs, reason="Kongress", at=NOW, actor=CLI)
    assert (
        conf.generate_sessions(
            db_session, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 2), at=NOW, actor=CLI, boards=[board]
        )
        == []
    )


def test_reinstate(db_session):
    board = make_board(db_session, NOW)
    cs = conf.generate_sessions(
        db_session, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 2), at=NOW, actor=CLI, boards=[board]
    )[0]
    with pytest.raises(Conflict):
        conf.reinstate_session(db_session, cs, reason="Irrtum", at=NOW, actor=CLI)
    conf.cancel_session(db_session, cs, reason="Kongress", at=NOW, actor=CLI)
    conf.reinstate_session(db_session, cs, reason="Irrtum", at=NOW, actor=CLI)
    assert cs.status is SessionStatus.PLANNED and cs.cancel_reason is None and cs.sequence == 2


def test_move_keeps_uid_raises_sequence_and_survives_regeneration(db_session):
    board = make_board(db_session, NOW)
    cs = conf.generate_sessions(
        db_session, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 2), at=NOW, actor=CLI, boards=[board]
    )[0]
    uid = cs.uid
    conf.move_session(
        db_session, cs, day=dt.date(2026, 12, 3), start=dt.time(8, 0), reason="Raum belegt", at=NOW, actor=CLI
    )
    assert cs.uid == uid and cs.sequence == 1
    assert cs.local_start == dt.datetime(2026, 12, 3, 8, 0, tzinfo=BERLIN)
    assert cs.local_end - cs.local_start == dt.timedelta(minutes=60)
    assert cs.original_starts_at is not None and cs.original_starts_at.astimezone(BERLIN).day == 1
    assert (
        conf.generate_sessions(
            db_session, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 4), at=NOW, actor=CLI, boards=[board]
        )
        == []
    )
    # a second move keeps the original start
    conf.move_session(
        db_session, cs, day=dt.date(2026, 12, 4), start=dt.time(8, 0), reason="doch Freitag", at=NOW, actor=CLI
    )
    assert cs.original_starts_at.astimezone(BERLIN).day == 1 and cs.sequence == 2


def test_move_into_the_past_or_without_reason_changes_nothing(db_session):
    board = make_board(db_session, NOW)
    cs = conf.generate_sessions(
        db_session, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 2), at=NOW, actor=CLI, boards=[board]
    )[0]
    before = (cs.starts_at, cs.ends_at, cs.sequence)
    with pytest.raises(InvalidInput, match="Vergangenheit"):
        conf.move_session(
            db_session, cs, day=dt.date(2026, 11, 20), start=dt.time(15, 15), reason="zurück", at=NOW, actor=CLI
        )
    with pytest.raises(InvalidInput, match="Grund"):
        conf.move_session(db_session, cs, day=dt.date(2026, 12, 2), start=dt.time(15, 15), reason="", at=NOW, actor=CLI)
    # same day, an hour earlier than now (09:00 Berlin) is also the past
    with pytest.raises(InvalidInput, match="Vergangenheit"):
        conf.move_session(
            db_session, cs, day=dt.date(2026, 11, 23), start=dt.time(8, 0), reason="früher", at=NOW, actor=CLI
        )
    assert (cs.starts_at, cs.ends_at, cs.sequence) == before
    assert _events(db_session, "conference:session:move") == []


def test_cannot_move_a_cancelled_session(db_session):
    board = make_board(db_session, NOW)
    cs = conf.generate_sessions(
        db_session, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 2), at=NOW, actor=CLI, boards=[board]
    )[0]
    conf.cancel_session(db_session, cs, reason="Kongress", at=NOW, actor=CLI)
    with pytest.raises(Conflict):
        conf.move_session(
            db_session, cs, day=dt.date(2026, 12, 3), start=dt.time(8, 0), reason="x y z", at=NOW, actor=CLI
        )


def test_extra_session(db_session):
    board = make_board(db_session, NOW)
    cs = conf.add_extra_session(
        db_session,
        board,
        day=dt.date(2026, 12, 24),
        start=dt.time(9, 0),
        at=NOW,
        actor=CLI,
        note="Sondersitzung vor Weihnachten",
    )
    assert cs.is_extra and cs.series_date is None and cs.holiday_name is None
    assert cs.local_start == dt.datetime(2026, 12, 24, 9, 0, tzinfo=BERLIN)
    on_holiday = conf.add_extra_session(
        db_session, board, day=dt.date(2026, 12, 25), start=dt.time(9, 0), at=NOW, actor=CLI
    )
    assert on_holiday.holiday_name == "Erster Weihnachtstag" and on_holiday.status is SessionStatus.PLANNED
    with pytest.raises(InvalidInput):
        conf.add_extra_session(db_session, board, day=dt.date(2026, 11, 2), start=dt.time(9, 0), at=NOW, actor=CLI)
    assert len(_events(db_session, "conference:session:add")) == 2


def test_invalid_board_changes_nothing(db_session):
    board = make_board(db_session, NOW)
    snapshot = (board.rrule, board.start_time)
    data = conf.BoardInput.from_board(board)
    data.rrule = "FREQ=WEEKLY;BYDAY=XX"
    with pytest.raises(InvalidInput, match="Wiederholungsregel"):
        conf.update_board(db_session, board, data, at=NOW, actor=CLI, horizon_weeks=12)
    assert (board.rrule, board.start_time) == snapshot
    assert _events(db_session, "conference:board:update") == []


def test_board_name_must_be_unique(db_session):
    make_board(db_session, NOW, name="Eins", short_name="E1")
    with pytest.raises(Conflict):
        make_board(db_session, NOW, name="Eins", short_name="E2")


def test_changing_the_series_realigns_untouched_future_sessions(db_session):
    board = make_board(db_session, NOW)  # Tuesdays 15:15
    made = conf.generate_sessions(
        db_session, start=dt.date(2026, 11, 23), end=dt.date(2026, 12, 22), at=NOW, actor=CLI, boards=[board]
    )
    moved = made[0]
    conf.move_session(
        db_session, moved, day=dt.date(2026, 11, 26), start=dt.time(12, 0), reason="Raum", at=NOW, actor=CLI
    )
    data = conf.BoardInput.from_board(board)
    data.start_time = dt.time(16, 0)
    data.rrule = "FREQ=WEEKLY;BYDAY=TU,TH"
    conf.update_board(db_session, board, data, at=NOW, actor=CLI, horizon_weeks=4)
    rows = _sessions(db_session, board)
    untouched = [cs for cs in rows if cs.id in {m.id for m in made[1:]}]
    assert all(cs.local_start.time() == dt.time(16, 0) and cs.sequence == 1 for cs in untouched)
    assert moved.local_start == dt.datetime(2026, 11, 26, 12, 0, tzinfo=BERLIN)  # hand-moved: left alone
    assert any(cs.local_start.weekday() == 3 and not cs.is_moved for cs in rows)  # new Thursdays generated
    [event] = _events(db_session, "conference:board:update")
    assert event.before == {"rrule": "FREQ=WEEKLY;BYDAY=TU", "start_time": "15:15:00"}


def test_changing_the_rule_cancels_dates_it_no_longer_has(db_session):
    board = make_board(db_session, NOW)
    conf.generate_sessions(
        db_session, start=dt.date(2026, 11, 23), end=dt.date(2026, 12, 22), at=NOW, actor=CLI, boards=[board]
    )
    data = conf.BoardInput.from_board(board)
    data.rrule = "FREQ=WEEKLY;BYDAY=WE"
    conf.update_board(db_session, board, data, at=NOW, actor=CLI, horizon_weeks=4)
    tuesdays = [cs for cs in _sessions(db_session, board) if cs.local_start.weekday() == 1]
    assert tuesdays and all(cs.status is SessionStatus.CANCELLED and cs.sequence == 1 for cs in tuesdays)


def test_quorum_is_stored_and_editable(db_session):
    board = make_board(db_session, NOW)
    data = conf.BoardInput.from_board(board)
    data.quorum = [
        QuorumSpec(QuorumKind.ALL_OF, ("Urologie",)),
        QuorumSpec(QuorumKind.ONE_OF, ("Hämatologie/Onkologie", "Urologie mit med. Tumortherapie")),
    ]
    conf.update_board(db_session, board, data, at=NOW, actor=CLI, horizon_weeks=1)
    db_session.expire_all()
    assert conf.quorum_of(conf.get_board(db_session, board.id)) == data.quorum


def test_clashes_need_overlap_and_a_shared_discipline(db_session):
    a = make_board(db_session, NOW)  # Tue 15:15, Radiologie + Pathologie
    b = make_board(db_session, NOW, start_time=dt.time(15, 45))  # overlaps, shares both
    c = make_board(db_session, NOW, start_time=dt.time(16, 15))  # touches a's end: no overlap
    d = make_board(db_session, NOW, quorum=[QuorumSpec(QuorumKind.ALL_OF, ("Dermatologie",))])  # overlaps, shares none
    conf.generate_sessions(
        db_session, start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 2), at=NOW, actor=CLI, boards=[a, b, c, d]
    )
    start, end = conf.day_range(dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    clashes = conf.find_clashes(db_session, start, end)
    pairs = {frozenset((x.first.board_id, x.second.board_id)) for x in clashes}
    assert frozenset((a.id, b.id)) in pairs
    assert frozenset((b.id, c.id)) in pairs  # 15:45-16:45 and 16:15-17:15
    assert frozenset((a.id, c.id)) not in pairs and not any(d.id in p for p in pairs)
    # a cancelled session clashes with nothing
    cs_b = next(cs for cs in conf.sessions_between(db_session, start, end, board=b))
    conf.cancel_session(db_session, cs_b, reason="Kongress", at=NOW, actor=CLI)
    assert conf.find_clashes(db_session, start, end) == []


def test_demo_clashes_are_viszeral_haut_and_gyn_brust(demo):
    start, end = conf.day_range(dt.date(2026, 11, 23), dt.date(2026, 11, 30))
    pairs = {
        frozenset((c.first.board.short_name, c.second.board.short_name)) for c in conf.find_clashes(demo, start, end)
    }
    assert frozenset(("Viszeral", "Haut")) in pairs
    assert frozenset(("Gyn", "Brust")) in pairs


def test_board_input_validation(db_session):
    for overrides, field in [
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"name": " "}, "name"),
        ({"video_url": "http://insecure.example.org"}, "video_url"),
        ({"deadline_working_days": 11}, "deadline_working_days"),
    ]:
        with pytest.raises(InvalidInput) as info:
            conf.create_board(db_session, board_input(**overrides), at=NOW, actor=CLI)
        assert info.value.field == field


def test_values_that_reach_the_feeds_refuse_line_breaks_and_controls(db_session):
    for overrides, field, message in [
        ({"video_url": "https://video.example.org/x\r\nX-EVIL:1"}, "video_url", "Zeilenumbrüche oder Steuerzeichen"),
        ({"video_url": "https://video.example.org/a b"}, "video_url", "keine gültige Adresse"),
        ({"video_url": "https://"}, "video_url", "keine gültige Adresse"),
        ({"video_url": "https://user:pw@video.example.org/"}, "video_url", "keine gültige Adresse"),
        ({"room": "Raum 1\nEbene 2"}, "room", "Zeilenumbrüche oder Steuerzeichen"),
        ({"room": "Raum\x001"}, "room", "Zeilenumbrüche oder Steuerzeichen"),
        ({"name": "Tumorboard\u2028X"}, "name", "Zeilenumbrüche oder Steuerzeichen"),
        ({"short_name": "T\x07"}, "short_name", "Zeilenumbrüche oder Steuerzeichen"),
        ({"center": "Zentrum\r"}, "center", None),  # trailing CR is trimmed like a space
    ]:
        if message is None:
            assert conf.create_board(db_session, board_input(**overrides), at=NOW, actor=CLI).center == "Zentrum"
            continue
        with pytest.raises(InvalidInput) as info:
            conf.create_board(db_session, board_input(**overrides), at=NOW, actor=CLI)
        assert info.value.field == field
        assert message in info.value.message % info.value.params
    assert len(_events(db_session, "conference:board:create")) == 1


def test_reasons_keep_their_line_breaks_but_refuse_other_controls(db_session):
    board = make_board(db_session, NOW)
    cs = conf.generate_sessions(
        db_session, start=dt.date(2026, 11, 23), end=dt.date(2026, 12, 1), at=NOW, actor=CLI, boards=[board]
    )[0]
    with pytest.raises(InvalidInput, match="Steuerzeichen"):
        conf.cancel_session(db_session, cs, reason="Jahrestagung\x1b[31m", at=NOW, actor=CLI)
    assert cs.status is SessionStatus.PLANNED
    conf.cancel_session(db_session, cs, reason="Jahrestagung\r\nder Fachgesellschaft", at=NOW, actor=CLI)
    assert cs.cancel_reason == "Jahrestagung\nder Fachgesellschaft"


@pytest.mark.parametrize(
    ("day", "start", "words"),
    [
        (dt.date(2027, 10, 31), dt.time(2, 30), "02:30 Uhr gibt es am 31.10.2027 zweimal (Umstellung auf Winterzeit)"),
        (dt.date(2027, 3, 28), dt.time(2, 30), "02:30 Uhr gibt es am 28.03.2027 nicht (Umstellung auf Sommerzeit)"),
        (dt.date(2027, 10, 31), dt.time(2, 0), "02:00 Uhr gibt es am 31.10.2027 zweimal"),
    ],
)
def test_a_wall_time_the_clock_change_doubles_or_skips_is_refused_in_german(db_session, day, start, words):
    board = make_board(db_session, NOW)
    cs = conf.generate_sessions(
        db_session, start=dt.date(2026, 11, 23), end=dt.date(2026, 12, 1), at=NOW, actor=CLI, boards=[board]
    )[0]
    before = (cs.starts_at, cs.ends_at, cs.sequence)
    with pytest.raises(InvalidInput) as info:
        conf.move_session(db_session, cs, day=day, start=start, reason="Raum belegt", at=NOW, actor=CLI)
    assert words in info.value.message % info.value.params and info.value.field == "start"
    assert (cs.starts_at, cs.ends_at, cs.sequence) == before
    with pytest.raises(InvalidInput):
        conf.add_extra_session(db_session, board, day=day, start=start, at=NOW, actor=CLI)
    assert _events(db_session, "conference:session:move") == []
    assert _events(db_session, "conference:session:add") == []


def test_times_next_to_the_clock_change_are_kept(db_session):
    board = make_board(db_session, NOW)
    cs = conf.add_extra_session(
        db_session, board, day=dt.date(2027, 10, 31), start=dt.time(1, 30), at=NOW, actor=CLI, duration_minutes=120
    )
    # 01:30 MESZ is 23:30 UTC; two hours later the clocks have gone back: 02:30 MEZ.
    assert cs.starts_at.astimezone(dt.UTC) == dt.datetime(2027, 10, 30, 23, 30, tzinfo=dt.UTC)
    assert cs.ends_at.astimezone(dt.UTC) == dt.datetime(2027, 10, 31, 1, 30, tzinfo=dt.UTC)
    moved = conf.add_extra_session(db_session, board, day=dt.date(2027, 3, 28), start=dt.time(3, 0), at=NOW, actor=CLI)
    assert moved.starts_at.astimezone(dt.UTC) == dt.datetime(2027, 3, 28, 1, 0, tzinfo=dt.UTC)
