"""One write transaction per request, then reads (tumorboard/web/request_session.py): a view marked read_only, or a
request after its commit, cannot write — the flush refuses it here (and SQLite itself in production, where these
transactions begin without the write lock and with ``query_only``)."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import login
from tumorboard.audit.models import AuditEvent
from tumorboard.audit.services import record_event
from tumorboard.auth.actors import CLI
from tumorboard.web.request_session import db, read_only
from tumorboard.web.security import public

AT = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def _write() -> None:
    record_event(db(), actor=CLI, tag="case:case:view", subject_type="case", subject_id=1, at=AT)
    db().flush()


@pytest.fixture
def views(app: Flask) -> Flask:
    @public
    @read_only
    def reads_only() -> str:
        _write()
        return "written"

    @public
    def commits_twice() -> str:
        _write()
        db().commit()
        _write()
        db().commit()
        return "written twice"

    @public
    def commits_then_reads() -> str:
        _write()
        db().commit()
        return str(db().scalar(select(func.count(AuditEvent.id)).where(AuditEvent.subject_id == "1")))

    for view in (reads_only, commits_twice, commits_then_reads):
        app.add_url_rule(f"/test/{view.__name__}", view_func=view)
    return app


def test_a_read_only_view_cannot_write(views, client, db_session, caplog):
    response = client.get("/test/reads_only")
    assert response.status_code == 500 and "written" not in response.text
    assert "write in a read-only request session" in caplog.text


def test_a_second_write_transaction_in_one_request_is_refused(views, client, caplog):
    response = client.get("/test/commits_twice")
    assert response.status_code == 500
    assert "write in a read-only request session" in caplog.text


def test_after_the_commit_the_request_reads(views, client):
    response = client.get("/test/commits_then_reads")
    assert response.status_code == 200 and int(response.text) >= 1


def test_the_session_page_answers_and_logs_its_list_read(client, demo):
    """The session page writes the access event of its case list (issue 10), so it is a write request, not a
    read-only one; it must still answer (one write transaction per request). The id is looked up: on PostgreSQL
    rolled-back tests consume sequence values, so session 1 need not exist."""
    from tumorboard.conferences.models import ConferenceSession

    session_id = demo.scalars(select(ConferenceSession.id).order_by(ConferenceSession.starts_at)).first()
    login(client, "koordination")
    assert client.get(f"/sessions/{session_id}").status_code == 200
