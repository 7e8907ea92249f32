"""Indicator definitions as versioned configuration, and the indicator values against plain SQL (issue 11)."""

# ruff: noqa: S608  (ids interpolated into the test's own SQL are ints it made itself)
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import holidays
import pytest
from sqlalchemy import select, text

from tests.conftest import NOW, login, post_form
from tests.factories import make_board, make_user
from tests.qm.activity import build_activity
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI, Actor
from tumorboard.errors import InvalidInput, NotFound
from tumorboard.qm.indicators import IndicatorInput, current_definitions, define_indicator, history
from tumorboard.qm.models import IndicatorCode, TargetDirection
from tumorboard.qm.period import year_period
from tumorboard.qm.services import build_dashboard

YEAR = year_period(2025)


def _input(**kw: object) -> IndicatorInput:
    values: dict[str, object] = {
        "name": "Quorum erfüllt", "numerator": "Sitzungen mit Quorum", "denominator": "Sitzungen",
        "target_percent": 95.0, "target_direction": "at_least", "working_days": None, "source": "Zertifikat 2026",
        "reason": "Neuer Erhebungsbogen",
    }  # fmt: skip
    values.update(kw)
    return IndicatorInput(**values)  # type: ignore[arg-type]


def test_the_model_set_is_shipped(db_session):
    defaults = current_definitions(db_session, None)
    assert set(defaults) == set(IndicatorCode)
    assert all(d.version == 1 and d.board_id is None for d in defaults.values())
    assert defaults[IndicatorCode.A1].target_percent == 100.0
    assert defaults[IndicatorCode.R1].target_direction is TargetDirection.AT_MOST
    assert defaults[IndicatorCode.Q1].working_days == 5
    assert defaults[IndicatorCode.P1].target_percent is None  # no target invented where qm.md names none


def test_a_new_version_per_scope_board_wins_history_stays(db_session):
    board = make_board(db_session, NOW)
    admin = make_user(db_session, NOW, role="admin")
    actor = Actor(user_id=admin.id, label=admin.username)
    v2 = define_indicator(db_session, code="A1", board=None, data=_input(), at=NOW, actor=actor)
    assert (v2.version, v2.created_by_id) == (2, admin.id)
    own = define_indicator(db_session, code="A1", board=board, data=_input(target_percent=90.0), at=NOW, actor=CLI)
    assert own.version == 1 and own.board_id == board.id
    assert current_definitions(db_session, board)[IndicatorCode.A1] is own
    assert current_definitions(db_session, None)[IndicatorCode.A1] is v2
    # A later default version does not override the board's own.
    define_indicator(db_session, code="A1", board=None, data=_input(target_percent=80.0), at=NOW, actor=CLI)
    assert current_definitions(db_session, board)[IndicatorCode.A1] is own
    assert [d.version for d in history(db_session) if d.code is IndicatorCode.A1] == [1, 2, 3, 1]
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "qm:indicator:define")).first()
    assert event is not None and event.reason == "Neuer Erhebungsbogen"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"target_percent": 120.0}, "zwischen 0 und 100"),
        ({"reason": ""}, "begründen"),
        ({"name": " "}, "Name, Zähler und Nenner"),
        ({"target_direction": "sideways"}, "mindestens"),
    ],
)
def test_bad_definitions_are_refused_and_nothing_is_added(db_session, changes, message):
    before = len(history(db_session))
    with pytest.raises(InvalidInput, match=message):
        define_indicator(db_session, code="A1", board=None, data=_input(**changes), at=NOW, actor=CLI)
    assert len(history(db_session)) == before


def test_unknown_indicator(db_session):
    with pytest.raises(NotFound):
        define_indicator(db_session, code="Z9", board=None, data=_input(), at=NOW, actor=CLI)
    with pytest.raises(InvalidInput, match="Arbeitstage"):
        define_indicator(db_session, code="Q1", board=None, data=_input(working_days=None), at=NOW, actor=CLI)


def test_admin_edits_in_the_ui_qm_reads_physician_403(client, db_session):
    make_user(db_session, NOW, role="admin", username="admin1")
    make_user(db_session, NOW, role="qm", username="qm1")
    make_user(db_session, NOW, role="physician", username="doc1")
    db_session.commit()
    login(client, "doc1", "correct horse battery")
    assert client.get("/qm/indicators").status_code == 403
    qm = client.application.test_client()
    login(qm, "qm1", "correct horse battery")
    assert qm.get("/qm/indicators").status_code == 200
    assert qm.get("/qm/indicators/A1").status_code == 403
    admin = client.application.test_client()
    login(admin, "admin1", "correct horse battery")
    form = {
        "board": "", "name": "Quorum erfüllt", "numerator": "n", "denominator": "d", "target_percent": "97.5",
        "target_direction": "at_least", "working_days": "", "source": "Bogen 2026", "reason": "Neuer Bogen 2026",
    }  # fmt: skip
    status, html = post_form(admin, "/qm/indicators/A1", "/qm/indicators/A1", form)
    assert status == 200 and 'data-code="A1" data-version="2"' in html
    assert current_definitions(db_session, None)[IndicatorCode.A1].target_percent == 97.5
    status, html = post_form(admin, "/qm/indicators/A1", "/qm/indicators/A1", {**form, "target_percent": "150"})
    assert status == 422 and current_definitions(db_session, None)[IndicatorCode.A1].version == 2


def _working_days_after(first: dt.date, last: dt.date) -> int:
    nrw = holidays.country_holidays("DE", subdiv="NW", years=range(first.year, last.year + 1))
    return sum(
        1
        for n in range(1, (last - first).days + 1)
        if (day := first + dt.timedelta(days=n)).weekday() < 5 and day not in nrw
    )


def test_indicator_values_match_plain_sql(db_session):
    board = make_board(db_session, NOW, series_start=dt.date(2024, 1, 2))
    clerk = make_user(db_session, NOW)
    built = build_activity(db_session, [board], first=YEAR.first, last=YEAR.last, clerk=clerk, at=NOW, seed=3)
    data = build_dashboard(db_session, boards=[board], period=YEAR, now=NOW)
    values = {(v.code.value, v.detail): v for v in data.indicators}
    ids = ",".join(str(cs.id) for cs in built.sessions)
    held = [
        sid
        for (sid,) in db_session.execute(
            text(
                f"SELECT s.id FROM conference_session s WHERE s.id IN ({ids}) AND s.status = 'planned' "
                "AND EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id)"
            )
        )
    ]
    held_ids = ",".join(map(str, held))

    def covered(discipline: str) -> set[int]:
        return {
            sid
            for (sid,) in db_session.execute(
                text(
                    f"SELECT DISTINCT session_id FROM attendance WHERE session_id IN ({held_ids}) AND "
                    "COALESCE(stands_in_for_discipline, discipline) = :d"
                ),
                {"d": discipline},
            )
        }

    radiology, pathology = covered("Radiologie"), covered("Pathologie")
    a1 = values[("A1", "")]
    assert (a1.numerator, a1.denominator) == (len(radiology & pathology), len(held))
    assert a1.numerator < a1.denominator and a1.met is False  # target 100 %: some sessions miss it
    assert len(data.quorum_misses) == a1.denominator - a1.numerator
    assert (values[("A2", "Radiologie")].numerator, values[("A2", "Pathologie")].numerator) == (
        len(radiology),
        len(pathology),
    )

    starts = {cs.id: cs.local_start.date() for cs in built.sessions}
    timely = discussed = 0
    signed = dict(
        db_session.execute(
            text(
                "SELECT session_id, MIN(signed_at) FROM protocol_version "
                f"WHERE session_id IN ({held_ids}) GROUP BY session_id"
            )
        ).all()
    )
    for sid, n in db_session.execute(
        text(
            "SELECT session_id, COUNT(*) FROM case_registration "
            f"WHERE status = 'discussed' AND session_id IN ({held_ids}) GROUP BY session_id"
        )
    ):
        discussed += n
        if sid in signed:
            at = signed[sid]
            at = dt.datetime.fromisoformat(at) if isinstance(at, str) else at
            at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
            day = at.astimezone(ZoneInfo("Europe/Berlin")).date()
            if _working_days_after(starts[sid], day) <= 5:
                timely += n
    q1 = values[("Q1", "")]
    assert (q1.numerator, q1.denominator) == (timely, discussed) and 0 < timely < discussed

    deviated, known = db_session.execute(
        text(
            "SELECT SUM(CASE WHEN f.status = 'deviated' THEN 1 ELSE 0 END), COUNT(*) FROM recommendation_follow_up f "
            "JOIN case_registration c ON c.id = f.case_id WHERE c.status = 'discussed' "
            f"AND c.session_id IN ({held_ids}) AND f.id = (SELECT MAX(id) FROM recommendation_follow_up f2 "
            "WHERE f2.case_id = f.case_id)"
        )
    ).one()
    r1 = values[("R1", "")]
    assert (r1.numerator, r1.denominator) == (deviated, known)
    assert r1.definition is not None and r1.definition.version == 1

    # The target is configuration: lowering it changes the verdict, nothing in code.
    define_indicator(db_session, code="A1", board=board, data=_input(target_percent=0.0), at=NOW, actor=CLI)
    again = build_dashboard(db_session, boards=[board], period=YEAR, now=NOW)
    a1_again = next(v for v in again.indicators if v.code is IndicatorCode.A1)
    assert a1_again.met is True and a1_again.definition is not None and a1_again.definition.board_id == board.id
