"""Writes wait for the lock instead of failing (issue 16 item 1), busy faults are recognised, and database errors
are described without the values they carried (issue 10 item 5). Real databases: a file SQLite database of the test's
own, or a new PostgreSQL database when the run has one; a second process or connection holds the lock."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from tests.conftest import PG_ADMIN_URL
from tests.live import LiveDatabase, hold_lock
from tumorboard.db import make_engine, make_session_factory, read_only_engine
from tumorboard.dbfaults import describe, install_log_scrubber, is_busy

PATIENT = ("Leakmann", "Philippa", "1944-03-21", "KIS-B1-PHI")

pytestmark = pytest.mark.db


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveDatabase]:
    with LiveDatabase.create(tmp_path, PG_ADMIN_URL) as db:
        db.execute(
            "CREATE TABLE patient (id INTEGER PRIMARY KEY, family_name VARCHAR(120), given_name VARCHAR(120),"
            " birth_date VARCHAR(10), patient_number VARCHAR(40))",
            "CREATE TABLE case_registration (id INTEGER PRIMARY KEY, patient_id INTEGER)",
            "INSERT INTO patient VALUES (1, 'Muster', 'Max', '1950-01-01', 'KIS-1')",
        )
        yield db


def test_a_writer_that_read_first_waits_for_the_lock_and_succeeds(live: LiveDatabase) -> None:
    """The failure of issue 16: a transaction reads, another connection writes meanwhile, then the first writes.
    With a deferred BEGIN SQLite refuses the upgrade at once ("database is locked", no busy wait); with BEGIN
    IMMEDIATE the first waits at its start and then goes through. On PostgreSQL the reader simply waits."""
    engine = make_engine(live.url, busy_timeout_ms=10_000)
    other = make_engine(live.url, busy_timeout_ms=10_000)
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with other.begin() as conn:
            conn.execute(text("UPDATE patient SET given_name = 'Moritz' WHERE id = 1"))
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        threading.Timer(1.0, release.set).start()
        started = time.monotonic()
        with make_session_factory(engine)() as session:
            count = session.scalar(text("SELECT count(*) FROM patient"))
            session.execute(text("UPDATE patient SET family_name = 'Neu' WHERE id = 1"))
            session.commit()
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join()
        engine.dispose()
        other.dispose()
    assert count == 1
    assert waited >= 0.8  # it queued behind the writer instead of failing
    assert live.scalar("SELECT given_name || ' ' || family_name FROM patient WHERE id = 1") == "Moritz Neu"


def test_past_the_timeout_the_fault_is_busy_and_nothing_is_written(live: LiveDatabase) -> None:
    engine = make_engine(live.url, busy_timeout_ms=300)
    try:
        with hold_lock(live, 3), pytest.raises(OperationalError) as caught, make_session_factory(engine)() as session:
            session.execute(text("INSERT INTO patient (id, family_name) VALUES (3, 'Wartend')"))
            session.commit()
    finally:
        engine.dispose()
    assert is_busy(caught.value)
    assert live.scalar("SELECT count(*) FROM patient") == 1


def test_read_only_sessions_do_not_wait_for_writers_and_cannot_write(live: LiveDatabase) -> None:
    if not live.is_sqlite:
        pytest.skip("read-only sessions matter on SQLite only (PostgreSQL readers never wait for writers)")
    engine = make_engine(live.url, busy_timeout_ms=5_000)
    reader = make_session_factory(read_only_engine(engine))
    try:
        with hold_lock(live, 2):
            started = time.monotonic()
            with reader() as session:
                assert session.scalar(text("SELECT family_name FROM patient WHERE id = 1")) == "Muster"
            assert time.monotonic() - started < 1.0
        with reader() as session, pytest.raises(DBAPIError):
            session.execute(text("UPDATE patient SET given_name = 'X' WHERE id = 1"))
            session.commit()
    finally:
        engine.dispose()
    assert live.scalar("SELECT given_name FROM patient WHERE id = 1") == "Max"


def test_savepoints_still_work_inside_an_immediate_transaction(live: LiveDatabase) -> None:
    engine = make_engine(live.url)
    try:
        with engine.connect() as conn:
            outer = conn.begin()
            with make_session_factory(engine)(bind=conn, join_transaction_mode="create_savepoint") as session:
                session.execute(text("INSERT INTO patient (id, family_name) VALUES (4, 'Innen')"))
                session.rollback()
                session.execute(text("INSERT INTO patient (id, family_name) VALUES (5, 'Innen')"))
                session.commit()
            assert conn.scalar(text("SELECT count(*) FROM patient WHERE family_name = 'Innen'")) == 1
            outer.rollback()
    finally:
        engine.dispose()
    assert live.scalar("SELECT count(*) FROM patient") == 1


def _fail_on_insert(live: LiveDatabase) -> None:
    """A trigger that fails every insert; on PostgreSQL its message quotes the whole row, as a check constraint's
    DETAIL ("Failing row contains (…)") would."""
    if live.is_sqlite:
        live.execute("CREATE TRIGGER b1_fail BEFORE INSERT ON patient BEGIN SELECT RAISE(ABORT, 'injected'); END")
    else:
        live.execute(
            "CREATE FUNCTION b1_fail() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected: %', row_to_json(NEW)::text; END $$",
            "CREATE TRIGGER b1_fail BEFORE INSERT ON patient FOR EACH ROW EXECUTE FUNCTION b1_fail()",
        )


def _insert_patient(live: LiveDatabase) -> DBAPIError:
    engine = make_engine(live.url)
    try:
        with pytest.raises(DBAPIError) as caught, make_session_factory(engine)() as session:
            session.execute(
                text("INSERT INTO patient VALUES (9, :f, :g, :b, :n)"),
                dict(zip("fgbn", PATIENT, strict=True)),
            )
    finally:
        engine.dispose()
    return caught.value


def test_engines_hide_parameters_and_describe_drops_driver_messages(live: LiveDatabase) -> None:
    _fail_on_insert(live)
    err = _insert_patient(live)
    text_of_error = str(err)
    assert "SQL parameters hidden" in text_of_error
    for value in PATIENT:
        assert value not in describe(err)
        if live.is_sqlite:  # PostgreSQL's message quotes the row: only describe() is clean there
            assert value not in text_of_error
    assert "INSERT INTO patient" in describe(err)
    assert not is_busy(err)


def test_logged_database_errors_carry_no_values(live: LiveDatabase, caplog: pytest.LogCaptureFixture) -> None:
    install_log_scrubber()
    _fail_on_insert(live)
    err = _insert_patient(live)
    log = logging.getLogger("tumorboard.test")
    with caplog.at_level(logging.INFO):
        try:
            raise RuntimeError("job failed") from err
        except RuntimeError:
            log.exception("job %s failed", "x")
        log.error("plain: %s", err)
    assert "Traceback (most recent call last)" in caplog.text and "INSERT INTO patient" in caplog.text
    for value in PATIENT:
        assert value not in caplog.text
