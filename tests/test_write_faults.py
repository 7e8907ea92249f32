"""Background jobs and CLI commands under database faults (issue 16 item 1, issue 10 item 5): a job that finds the
database busy logs it (ids only) and does the work on its next run; a CLI command exits with a clear message and its
own exit code; an injected database error, whose driver message quotes the row on PostgreSQL, puts no patient data
into any log line — caplog in process, stderr of the real CLI process."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.conftest import PG_ADMIN_URL, make_settings
from tests.live import LiveDatabase, hold_lock
from tumorboard.bootstrap import Runtime, bootstrap
from tumorboard.cases.models import AgendaVersion
from tumorboard.clock import FixedClock
from tumorboard.dbfaults import EXIT_BUSY
from tumorboard.demo.data import PATIENTS
from tumorboard.scheduler import JOBS, _run

pytestmark = pytest.mark.db
FREEZE = next(job for job in JOBS if job.id == "cases.freeze_agendas")


def patient_values() -> list[str]:
    values: list[str] = []
    for family, given, birth, _sex, number in PATIENTS:
        values += [family, given, number, birth.isoformat(), birth.strftime("%d.%m.%Y"), birth.strftime("%Y%m%d")]
    return [v for v in values if len(v) >= 4]  # "Lea" or "Eve" would match ordinary words


def assert_clean(output: str, where: str) -> None:
    leaked = [v for v in patient_values() if v.lower() in output.lower()]
    assert leaked == [], f"patient data in {where}: {leaked}"


def failing_trigger(dialect: str, table: str) -> list[str]:
    """A trigger that fails every insert into ``table``; on PostgreSQL its message quotes the whole row, as a check
    constraint's DETAIL ("Failing row contains (…)") would."""
    if dialect == "sqlite":
        return [f"CREATE TRIGGER b1_fail BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'injected'); END"]
    return [
        "CREATE FUNCTION b1_fail() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'injected: %', row_to_json(NEW)::text; END $$",
        f"CREATE TRIGGER b1_fail BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION b1_fail()",
    ]


def test_a_failing_job_logs_no_patient_data(runtime: Runtime, demo: Session, caplog: pytest.LogCaptureFixture) -> None:
    """The agenda snapshot the job writes holds names and birth dates; the insert fails."""
    for statement in failing_trigger(demo.get_bind().dialect.name, "agenda_version"):
        demo.execute(text(statement))
    with caplog.at_level(logging.INFO):
        _run(FREEZE, runtime)
    assert "job cases.freeze_agendas failed" in caplog.text
    assert "INSERT INTO agenda_version" in caplog.text  # the failing write was reached
    assert_clean(caplog.text, "the scheduler's log")
    assert demo.scalar(select(AgendaVersion.id)) is None


def test_a_busy_job_logs_it_and_does_the_work_on_its_next_run(
    live_db: LiveDatabase, tmp_path: Path, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, live_db.url)
    settings = type(settings)(**{**settings.__dict__, "db_busy_timeout_ms": 300})
    runtime = bootstrap(settings, clock=clock)
    live_db.execute("DELETE FROM agenda_version")
    try:
        with caplog.at_level(logging.INFO), hold_lock(live_db, 3, tables=("agenda_version", "case_registration")):
            _run(FREEZE, runtime)
        assert "job cases.freeze_agendas: database busy, nothing saved; runs again at its next time" in caplog.text
        assert "Traceback" not in caplog.text
        assert live_db.scalar("SELECT count(*) FROM agenda_version") == 0
        caplog.clear()
        with caplog.at_level(logging.INFO):
            _run(FREEZE, runtime)  # the next run
    finally:
        runtime.engine.dispose()
    frozen = live_db.scalar("SELECT count(*) FROM agenda_version")
    assert isinstance(frozen, int) and frozen > 0 and f"froze {frozen} agendas" in caplog.text


def test_cli_busy_exits_75_with_a_message(tmp_path: Path) -> None:
    # A command that writes one row and its audit event; the retry runs it in full (with `demo load`, seconds of
    # CPU for the ten protocol PDFs of its history, which say nothing here).
    create_user = ("auth", "create-user", "--username", "dr.neu", "--display-name", "Dr. Neu", "--role", "qm")
    password = "sehr-geheimes-passwort\n" * 2
    with LiveDatabase.create(tmp_path, PG_ADMIN_URL) as db:
        db.cli("db", "upgrade")
        with hold_lock(db, 60, tables=("user_account", "audit_event")):
            result = db.cli(*create_user, check=False, stdin=password, TUMORBOARD_DB_BUSY_TIMEOUT_MS="500")
        assert result.returncode == EXIT_BUSY, result.stderr
        assert (
            "Die Datenbank ist gerade ausgelastet – nichts wurde gespeichert, bitte erneut versuchen." in result.stderr
        )
        assert "Traceback" not in result.stderr
        assert db.scalar("SELECT count(*) FROM user_account") == 0
        assert db.scalar("SELECT count(*) FROM audit_event") == 0
        assert db.cli(*create_user, stdin=password).returncode == 0  # run again: done
        assert db.scalar("SELECT count(*) FROM user_account") == 1


def test_cli_database_error_logs_no_patient_data(tmp_path: Path) -> None:
    with LiveDatabase.create(tmp_path, PG_ADMIN_URL) as db:
        db.cli("db", "upgrade")
        db.execute(*failing_trigger("sqlite" if db.is_sqlite else "postgresql", "patient"))
        result = db.cli("demo", "load", check=False)
        assert result.returncode == 1, result.stderr
        assert "command demo failed: database error" in result.stderr and "INSERT INTO patient" in result.stderr
        assert_clean(result.stdout + result.stderr, "the CLI's output")
        assert db.scalar("SELECT count(*) FROM patient") == 0
