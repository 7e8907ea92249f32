"""Shared fixtures. Database tests run on SQLite, and again on PostgreSQL when ``make test`` finds one
(``TUMORBOARD_TEST_PG_ADMIN_URL``): the run creates its own database and drops it afterwards.

Each test runs inside a transaction that is rolled back; services and views commit to savepoints.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.live import live_db  # noqa: F401 - a fixture: a fresh database served by real processes
from tumorboard.bootstrap import Runtime, bootstrap
from tumorboard.clock import FixedClock
from tumorboard.config import Settings
from tumorboard.db import make_engine

#: A Monday morning in Berlin (09:00 CET); the demo's next sessions are that afternoon.
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
PG_ADMIN_URL = os.environ.get("TUMORBOARD_TEST_PG_ADMIN_URL")


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2 with RFC 9106 parameters costs ~0.16 s per hash; the suite hashes hundreds of times. Tests use
    argon2's CHEAPEST profile — same code path, smaller work factor (the hash records its own parameters)."""
    from argon2 import PasswordHasher, profiles

    from tumorboard.auth import passwords

    original = passwords._hasher
    passwords._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    yield
    passwords._hasher = original


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


def make_settings(tmp: Path, url: str, **environ: str) -> Settings:
    """Settings from an environment of their own (``environ`` adds to it: imaging, mail …)."""
    return Settings.from_env(
        {
            "TUMORBOARD_ENV": "test",
            "TUMORBOARD_INSTANCE_PATH": str(tmp),
            "TUMORBOARD_DATABASE_URL": url,
            "TUMORBOARD_SECRET_KEY": "t" * 48,
            **environ,
        }
    )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PG_ADMIN_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
        return
    name = f"tumorboard_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    from tumorboard.migrate import upgrade

    eng = make_engine(database_url)
    upgrade(eng)  # the real migrations build the test schema
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        trans = conn.begin()
        yield conn
        trans.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def runtime(
    tmp_path: Path, database_url: str, engine: Engine, session_factory: sessionmaker[Session], clock: FixedClock
) -> Runtime:
    return bootstrap(make_settings(tmp_path, database_url), engine=engine, session_factory=session_factory, clock=clock)


@pytest.fixture
def demo(db_session: Session, clock: FixedClock) -> Session:
    from tumorboard.auth.actors import CLI
    from tumorboard.demo.data import load_demo

    assert load_demo(db_session, at=clock.now(), actor=CLI, horizon_weeks=12)
    db_session.commit()
    return db_session


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    from tumorboard.web import create_app

    return create_app(runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "page has no CSRF token"
    return found.group(1)


def login(client: FlaskClient, username: str, password: str = "tumorboard-demo") -> None:  # noqa: S107
    page = client.get("/login")
    response = client.post(
        "/login", data={"csrf_token": csrf_from(page.text), "username": username, "password": password}
    )
    assert response.status_code == 302, response.text


def post_form(client: FlaskClient, page_url: str, action: str, data: dict[str, str]) -> tuple[int, str]:
    """Load ``page_url`` (as a user would), take its CSRF token and post ``data`` to ``action``."""
    token = csrf_from(client.get(page_url).text)
    response = client.post(action, data={"csrf_token": token, **data}, follow_redirects=True)
    return response.status_code, response.text
