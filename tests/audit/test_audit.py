"""The audit log is append-only: in code, in the ORM and in the database."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import login
from tumorboard.audit.models import AuditEvent
from tumorboard.audit.services import AuditFilter, list_events, record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import CLI

PACKAGE = Path(__file__).resolve().parents[2] / "tumorboard"
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def _event(session):
    ev = record_event(
        session,
        actor=CLI,
        tag=Tag.CASE_VIEW,
        subject_type=SubjectType.CASE,
        subject_id=1,
        at=NOW,
        before={"a": 1},
        after={"a": 2},
    )
    session.flush()
    return ev


def test_orm_refuses_update_and_delete(db_session):
    ev = _event(db_session)
    ev.tag = Tag.CASE_DOCUMENT_VIEW
    with pytest.raises(PermissionError):
        db_session.flush()
    db_session.rollback()
    ev = _event(db_session)
    db_session.delete(ev)
    with pytest.raises(PermissionError):
        db_session.flush()


def test_database_refuses_update_and_delete(db_session):
    ev = _event(db_session)
    for statement in ("UPDATE audit_event SET tag = 'x:y:z' WHERE id = :id", "DELETE FROM audit_event WHERE id = :id"):
        savepoint = db_session.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            db_session.execute(text(statement), {"id": ev.id})
        savepoint.rollback()
    assert db_session.scalar(select(AuditEvent.tag).where(AuditEvent.id == ev.id)) == Tag.CASE_VIEW


def test_code_offers_no_update_or_delete_of_audit_rows():
    """No module issues UPDATE/DELETE on audit_event or deletes AuditEvent objects."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("update", "delete")
                and any(isinstance(a, ast.Name) and a.id == "AuditEvent" for a in node.args)
            ):
                offenders.append(f"{path}: {node.func.id}(AuditEvent)")
        lowered = source.lower()
        for verb in ("update audit_event", "delete from audit_event"):
            if verb in lowered and "migrations" not in str(path):
                offenders.append(f"{path}: {verb}")
    assert offenders == []
    import tumorboard.audit.services as services

    assert [n for n in dir(services) if n.startswith(("update", "delete", "remove", "edit"))] == []


def test_tag_must_have_three_parts(db_session):
    with pytest.raises(ValueError):
        record_event(db_session, actor=CLI, tag="session:cancel", subject_type="s", subject_id=1, at=NOW)


def test_filter(db_session, demo):
    events, total = list_events(db_session, AuditFilter(tag_prefix="conference:board"))
    assert total == 9 and all(e.tag == "conference:board:create" for e in events)
    _, total = list_events(db_session, AuditFilter(tag_prefix="conference:board", since=NOW + dt.timedelta(days=1)))
    assert total == 0


def test_qm_browses_and_filters_the_log(client, demo):
    login(client, "qm")
    page = client.get("/audit?tag=auth:user").text
    assert "auth:user:create" in page and "conference:session:generate" not in page
    users = demo.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.tag == "auth:user:create"))
    assert users >= 4 and f"{users} Ereignisse" in page
    response = client.get("/audit?since=gestern")
    assert response.status_code == 422 and "JJJJ-MM-TT" in response.text
