"""Everyday load (issue 16): real gunicorn with 4 workers on the demo data; ``wrk`` keeps 16 connections busy for 5 s
on a case page (every view writes an access event), the session page and the calendar feed → every answer 2xx, no
socket errors, on SQLite and on PostgreSQL. The long run with 32 connections for 30 s is ``make bench-web``
(benchmarks/web_load.py, figures in docs/benchmarks.md)."""

from __future__ import annotations

import shutil

import pytest

from tests.live import Browser, LiveDatabase, gunicorn, wrk

pytestmark = [
    pytest.mark.db,
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk (Debian package) is installed by make test"),
]


def test_pages_and_feed_under_concurrent_load_answer_without_errors(live_db: LiveDatabase) -> None:
    case_id, session_id = (
        live_db.scalar("SELECT min(id) FROM case_registration"),
        live_db.scalar("SELECT session_id FROM case_registration ORDER BY id LIMIT 1"),
    )
    with gunicorn(live_db, workers=4, log_name="load.log") as server:
        browser = Browser(server.base)
        browser.login("koordination")
        paths = {"case": f"/cases/{case_id}", "session": f"/sessions/{session_id}", "feed": browser.feed_path()}
        for path in paths.values():
            assert browser.request(path).status == 200
        cookie = f"Cookie: {browser.cookie_header()}"
        views_before = live_db.scalar("SELECT count(*) FROM audit_event WHERE tag = 'case:case:view'")
        results = {
            name: wrk(server.base + path, connections=16, seconds=5, headers=(cookie,)) for name, path in paths.items()
        }
        log = server.output()
    for name, result in results.items():
        assert result.requests > 0, name
        assert result.errors == 0, f"{name}: {result}\n{log[-3000:]}"
    assert "database is locked" not in log and "Traceback" not in log
    # Every case-page answer wrote its access event: nothing was skipped to keep up.
    views_after = live_db.scalar("SELECT count(*) FROM audit_event WHERE tag = 'case:case:view'")
    assert isinstance(views_before, int) and isinstance(views_after, int)
    assert views_after - views_before >= results["case"].requests
