"""The auditor view (issue 11): per period, the sessions with outcome, attendance list and protocol versions."""

from __future__ import annotations

from tests.conftest import NOW, login
from tests.factories import make_user
from tests.qm.test_outcomes import _history


def test_auditor_view_lists_sessions_attendance_and_versions(client, db_session):
    board, rows, _ = _history(db_session)
    make_user(db_session, NOW, role="qm", username="qm1")
    make_user(db_session, NOW, role="physician", username="doc1")
    db_session.commit()
    login(client, "doc1", "correct horse battery")
    url = f"/qm/audit?board={board.id}&period=range&from=2026-03-01&to=2026-04-12"
    assert client.get(url).status_code == 403
    qm = client.application.test_client()
    login(qm, "qm1", "correct horse battery")
    page = qm.get(url)
    assert page.status_code == 200
    html = page.text
    assert html.count("<tr data-session=") == 6
    for cs, word in zip(
        rows,
        ["protokolliert", "durchgeführt", "abgesagt", "nicht dokumentiert", "protokolliert", "durchgeführt"],
        strict=True,
    ):
        assert f'data-session="{cs.id}" data-outcome="{word}"' in html
    assert "Dr. Extern" in html and f"/sessions/{rows[0].id}/attendance.pdf" in html
    assert f"/sessions/{rows[4].id}/protocol/v1.pdf" in html and f"/sessions/{rows[4].id}/protocol/v2.pdf" in html
    assert f"/sessions/{rows[1].id}/protocol/v1.pdf" not in html
    bad = qm.get(f"/qm/audit?board={board.id}&period=range&from=2026-04-12&to=2026-03-01")
    assert bad.status_code == 422 and "Das Ende des Zeitraums liegt vor seinem Anfang." in bad.text
