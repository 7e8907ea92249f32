"""The listener's write path under an injected database error (issue 10, item 5): the sender is refused, and the
listener's log — everything the process writes, stdout and stderr — names the fault but carries none of the
patient data that was being written. The same for the web, jobs and CLI: tests/web/test_write_lock.py,
tests/test_write_faults.py, tests/test_dbfaults.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.imaging.conftest import Listener
from tests.imaging.dicomfiles import parse_storescu, storescu, write_study
from tumorboard.imaging.models import ImagingInstance, ImagingStudy

pytestmark = pytest.mark.db

FAMILY, GIVEN = "Quellenfeld", "Wiebke"
PATIENT_ID = "PHI-7731-Q"
BIRTH = ("19471123", "1947-11-23")
SECRETS = (f"{FAMILY}^{GIVEN}", FAMILY, GIVEN, PATIENT_ID, *BIRTH)


def _refuse_the_patient(engine: Engine) -> None:
    """A database error on the listener's write path, only for this patient's study. PostgreSQL reports a
    failing CHECK with ``DETAIL: Failing row contains (…)`` — every value of the row; SQLite's trigger message is
    plain, but SQLAlchemy would append the bound parameters were ``hide_parameters`` off."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    f"ALTER TABLE imaging_study ADD CONSTRAINT test_refuse_patient CHECK (patient_id <> '{PATIENT_ID}')"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER test_refuse_patient BEFORE INSERT ON imaging_study "
                    f"WHEN NEW.patient_id = '{PATIENT_ID}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
                )
            )


def test_database_error_while_storing_refuses_the_sender_and_logs_no_patient_data(
    listener: Listener, listener_engine: Engine, listener_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _refuse_the_patient(listener_engine)
    _, files = write_study(
        tmp_path / "refused",
        series=1,
        per_series=2,
        patient_name=f"{FAMILY}^{GIVEN}",
        patient_id=PATIENT_ID,
        birth_date=BIRTH[0],
    )
    result = storescu(listener.port, files, extra=("-nh",))  # -nh: go on after a refused instance
    statuses = parse_storescu(result.stdout + result.stderr)
    assert len(statuses) == 2, result.stdout + result.stderr
    assert all(s.startswith("failure") for s in statuses.values()), statuses

    # Another patient's study still goes through: the fault was the injected one, and the listener serves on.
    _, others = write_study(tmp_path / "other", series=1, per_series=1)
    other = storescu(listener.port, others)
    assert list(parse_storescu(other.stdout + other.stderr).values()) == ["success"], other.stdout + other.stderr
    with listener_sessions() as session:
        assert session.scalar(select(func.count(ImagingStudy.id))) == 1
        assert session.scalar(select(func.count(ImagingInstance.id))) == 1

    listener.stop()  # everything the process wrote is in the log file now
    log = listener.log.read_text()
    # The error is logged (so a leak would show here), by class and schema names only.
    assert "storing or indexing failed" in log, log
    assert (
        "constraint=test_refuse_patient" in log  # PostgreSQL: psycopg.errors.CheckViolation sqlstate=23514 …
        if listener_engine.dialect.name == "postgresql"
        else "sqlite3.IntegrityError SQLITE_CONSTRAINT_TRIGGER refused by the test trigger" in log
    ), log
    leaked = [secret for secret in SECRETS if secret in log]
    assert leaked == [], log
