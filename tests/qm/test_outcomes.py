"""Session outcomes read from the record (issue 11): attendance and protocol signatures of many sessions at once,
shown on the board page and in ``sessions list --json``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from click.testing import CliRunner

from tests.conftest import NOW, login
from tests.factories import make_board, make_user
from tumorboard.attendance.services import check_in
from tumorboard.auth.actors import CLI
from tumorboard.cli import main
from tumorboard.conferences import services as conf
from tumorboard.conferences.outcome import SessionOutcome
from tumorboard.protocol.models import ProtocolVersion
from tumorboard.qm.services import session_outcomes


def _history(db_session):
    """A weekly board with six Tuesdays in March/April 2026: signed, held, cancelled, undocumented, signed,
    and a moved one that was held."""
    board = make_board(db_session, NOW, series_start=dt.date(2026, 3, 1))
    clerk = make_user(db_session, NOW)
    conf.generate_sessions(db_session, start=dt.date(2026, 3, 1), end=dt.date(2026, 4, 12), at=NOW, actor=CLI)
    rows = list(
        conf.sessions_between(db_session, *conf.day_range(dt.date(2026, 3, 1), dt.date(2026, 4, 12)), board=board)
    )
    assert len(rows) == 6
    signed, held, cancelled, _undocumented, signed_twice, moved = rows
    conf.cancel_session(db_session, cancelled, reason="Kongress", at=NOW, actor=CLI)
    for cs in (signed, held, signed_twice, moved):
        check_in(
            db_session, cs, user=None, mode="in_person", recorded_by=clerk, signed=False, at=NOW, actor=CLI,
            arrived_at=cs.starts_at, name="Dr. Extern", institution="Praxis", discipline="Radiologie",
        )  # fmt: skip
    first_signature = signed.ends_at + dt.timedelta(days=2)
    for cs, versions in ((signed, 1), (signed_twice, 2)):
        for n in range(1, versions + 1):
            db_session.add(
                ProtocolVersion(
                    session_id=cs.id, version=n, signed_at=first_signature + dt.timedelta(days=n - 1),
                    signed_by_id=clerk.id, signed_by_name="Test", text="x", pdf=b"%PDF",
                    sha256=hashlib.sha256(b"%PDF").hexdigest(),
                )
            )  # fmt: skip
    moved.original_starts_at = moved.starts_at
    moved.starts_at += dt.timedelta(days=1)
    moved.ends_at += dt.timedelta(days=1)
    db_session.flush()
    return board, rows, first_signature


def test_outcomes_of_many_sessions_from_the_record(db_session):
    _board, rows, first_signature = _history(db_session)
    outcomes = session_outcomes(db_session, rows, now=NOW)
    assert [outcomes[cs.id].kind for cs in rows] == [
        SessionOutcome.SIGNED,
        SessionOutcome.HELD,
        SessionOutcome.CANCELLED,
        SessionOutcome.UNDOCUMENTED,
        SessionOutcome.SIGNED,
        SessionOutcome.HELD,
    ]
    assert outcomes[rows[0].id].at == first_signature
    assert outcomes[rows[4].id].at == first_signature  # the first of two versions, not the amendment
    assert outcomes[rows[2].id].reason == "Kongress"


def test_sessions_list_json_has_outcome_and_keeps_status(runtime, db_session):
    board, _rows, first_signature = _history(db_session)
    db_session.commit()
    result = CliRunner().invoke(
        main,
        ["sessions", "list", "--board", board.short_name, "--from", "2026-03-01", "--to", "2026-04-12", "--json"],
        obj=runtime,
    )
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert [i["outcome"] for i in items] == [
        "protokolliert", "durchgeführt", "abgesagt", "nicht dokumentiert", "protokolliert", "durchgeführt"
    ]  # fmt: skip
    # The planning state stays: a held, signed session is still "planned" there, a cancelled one "cancelled".
    assert [i["status"] for i in items] == ["planned", "planned", "cancelled", "planned", "planned", "planned"]
    assert (
        items[0]["signed_at"]
        == first_signature.astimezone(dt.datetime.fromisoformat(items[0]["start"]).tzinfo).isoformat()
    )
    assert items[1]["signed_at"] is None


def test_board_page_lists_past_sessions_with_outcome_and_links(client, runtime, db_session):
    board, rows, _ = _history(db_session)
    make_user(db_session, NOW, role="qm", username="qm1")
    db_session.commit()
    login(client, "qm1", "correct horse battery")
    page = client.get(f"/boards/{board.id}")
    assert page.status_code == 200
    html = page.text
    assert "Vergangene Sitzungen" in html
    for word in ("protokolliert", "durchgeführt", "abgesagt", "nicht dokumentiert"):
        assert f'data-outcome="{word}"' in html
    assert f"/sessions/{rows[0].id}/protocol" in html and f"/sessions/{rows[1].id}/live" in html
    assert f'/sessions/{rows[1].id}/protocol"' not in html  # held but unsigned: no protocol link
