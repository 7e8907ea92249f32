"""Migrations are code and are tested: one head, ``upgrade head`` equals the models, every revision up and down,
on SQLite and (second run) PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import Engine

from tests.conftest import PG_ADMIN_URL
from tumorboard.db import make_engine
from tumorboard.migrate import alembic_config, downgrade, upgrade
from tumorboard.schema import metadata

pytestmark = pytest.mark.db


@pytest.fixture
def fresh_engine(tmp_path: Path) -> Iterator[Engine]:
    if not PG_ADMIN_URL:
        eng = make_engine(f"sqlite:///{tmp_path / 'migrations.sqlite'}")
        yield eng
        eng.dispose()
        return
    name = f"tumorboard_migr_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _revisions(engine: Engine) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(engine))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_single_head(fresh_engine):
    script = ScriptDirectory.from_config(alembic_config(fresh_engine))
    assert len(script.get_heads()) == 1


def test_revision_files_are_dated():
    for path in (Path(__file__).resolve().parents[2] / "migrations" / "versions").glob("*.py"):
        assert path.name[:11].replace("_", "").isdigit(), path.name


def test_upgrade_head_matches_the_models(fresh_engine):
    upgrade(fresh_engine)
    with fresh_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_every_revision_up_and_down(fresh_engine):
    revisions = _revisions(fresh_engine)
    assert revisions
    for rev in revisions:
        upgrade(fresh_engine, rev)
        downgrade(fresh_engine, "-1")
        upgrade(fresh_engine, rev)
    downgrade(fresh_engine, "base")
    tables = set(inspect(fresh_engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    upgrade(fresh_engine)
    assert set(metadata.tables) <= set(inspect(fresh_engine).get_table_names())


def test_membership_migration_makes_physicians_of_the_quorum_disciplines_members(fresh_engine):
    """Issue 10: an existing installation keeps working — its physicians become members of their boards; nobody
    becomes moderator (signing fails closed until one is named)."""
    import datetime as dt

    from sqlalchemy.orm import Session

    from tests.factories import make_board, make_user

    upgrade(fresh_engine, "5c1e0a7d3b21")  # the revision before the membership migration
    at = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    with Session(fresh_engine) as session:
        board = make_board(session, at)  # quorum: the factory's default disciplines
        wanted = sorted(board.required_disciplines)[0]
        member = make_user(session, at, "physician", discipline=wanted)
        make_user(session, at, "physician", discipline="Urologie")  # not a quorum discipline of the board
        make_user(session, at, "coordinator")
        session.commit()
        board_id, member_id = board.id, member.id
    upgrade(fresh_engine)
    with fresh_engine.connect() as conn:
        rows = conn.execute(text("SELECT board_id, user_id, role, added_at FROM board_member")).all()
    assert [(r.board_id, r.user_id, r.role) for r in rows] == [(board_id, member_id, "member")]
    from tumorboard.access.models import BoardMember

    with Session(fresh_engine) as session:  # the ORM reads what the SQL wrote (an aware UTC timestamp)
        assert session.scalars(select(BoardMember)).one().added_at.tzinfo is not None
