"""Shared fixtures. Database tests run on SQLite, and again on PostgreSQL when ``make test`` finds one
(``TUMORBOARD_TEST_PG_ADMIN_URL``): the run creates its own database and drops it afterwards.

Each test runs inside a transaction that is rolled back; services and views commit to savepoints.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.databases import Template
from tests.live import demo_instance, live_db  # noqa: F401 - fixtures: demo instance, database with real processes
from tumorboard.bootstrap import Runtime, bootstrap
from tumorboard.clock import FixedClock
from tumorboard.config import Settings
from tumorboard.db import make_engine

#: A Monday morning in Berlin (09:00 CET); the demo's next sessions are that afternoon.
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
PG_ADMIN_URL = os.environ.get("TUMORBOARD_TEST_PG_ADMIN_URL")
#: How far ahead the ``demo`` fixture's sessions reach.
DEMO_HORIZON_WEEKS = 12


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
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """An empty database migrated to head by the real migrations, once per run; tests that need a database of
    their own (a listener's) get a copy."""
    with Template.build(tmp_path_factory.mktemp("db"), "migrated", PG_ADMIN_URL) as template:
        yield template


@pytest.fixture(scope="session")
def database_url(migrated: Template) -> Iterator[str]:
    with migrated.copy(label="test") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _load_demo(engine: Engine) -> None:
    from tumorboard.auth.actors import CLI
    from tumorboard.demo.data import load_demo

    with Session(engine) as session:
        assert load_demo(session, at=NOW, actor=CLI, horizon_weeks=DEMO_HORIZON_WEEKS)
        session.commit()


@pytest.fixture(scope="session")
def demo_database(_cheap_password_hashing: None, migrated: Template) -> Iterator[tuple[str, Engine]]:
    """The demo as the ``demo`` fixture loads it, committed once to a database of its own (loading it per test cost
    about a second each, in some 130 tests and both runs)."""
    with Template.build(migrated.tmp, "demo", PG_ADMIN_URL, fill=_load_demo) as template, template.copy() as url:
        eng = make_engine(url)
        yield url, eng
        eng.dispose()


@pytest.fixture
def test_database(request: pytest.FixtureRequest, database_url: str, engine: Engine) -> tuple[str, Engine]:
    """The database a test runs in: the demo's if it asks for ``demo``, the empty one otherwise."""
    if "demo" in request.fixturenames:
        demo_url, demo_engine = request.getfixturevalue("demo_database")
        return demo_url, demo_engine
    return database_url, engine


@pytest.fixture
def connection(test_database: tuple[str, Engine]) -> Iterator[Connection]:
    with test_database[1].connect() as conn:
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
    tmp_path: Path, test_database: tuple[str, Engine], session_factory: sessionmaker[Session], clock: FixedClock
) -> Runtime:
    url, engine = test_database
    return bootstrap(make_settings(tmp_path, url), engine=engine, session_factory=session_factory, clock=clock)


@pytest.fixture
def demo(db_session: Session, clock: FixedClock) -> Session:
    """The demo (boards, users, cases; without history and studies), loaded at ``NOW`` — in the demo database,
    where it was committed once (:func:`demo_database`); the test's changes are rolled back as everywhere."""
    assert clock.now() == NOW, "the demo was loaded at NOW; a test that needs another time advances the clock after"
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
