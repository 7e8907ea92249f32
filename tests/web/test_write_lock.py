"""Writes wait, they do not fail (issue 16 item 1): while a separate process holds the database's write lock (SQLite)
or a lock on the tables (PostgreSQL), a case registration posted to the running app (real gunicorn) waits and is
saved once the lock goes; with a busy timeout shorter than the lock it answers the German 503 page with Retry-After,
and nothing of it is saved. Patient data appears in no log line on either path, nor after an injected database
error (issue 10 item 5)."""

from __future__ import annotations

import time

import pytest

from tests.live import Browser, LiveDatabase, gunicorn, hold_lock, registration

pytestmark = pytest.mark.db
BUSY = "Der Dienst ist gerade ausgelastet – nichts wurde gespeichert, bitte erneut versuchen."


def _count(db: LiveDatabase, number: str) -> tuple[object, object]:
    patients = db.scalar("SELECT count(*) FROM patient WHERE patient_number = :n", n=number)
    cases = db.scalar(
        "SELECT count(*) FROM case_registration c JOIN patient p ON p.id = c.patient_id WHERE p.patient_number = :n",
        n=number,
    )
    return patients, cases


def _assert_no_patient_in(text: str, *values: str) -> None:
    leaked = [v for v in values if v in text]
    assert leaked == [], f"patient data in the log: {leaked}"


def test_a_registration_waits_for_a_15_s_lock_and_is_saved(live_db: LiveDatabase) -> None:
    patient = {"family_name": "Wartemann", "given_name": "Gisela", "birth_date": "1952-07-30"}
    number = "KIS-B1-WAIT"
    with gunicorn(live_db, workers=1, log_name="wait.log") as server:  # the default busy timeout: 20 s
        browser = Browser(server.base)
        browser.login("koordination")
        form = registration(browser, "Lunge", patient_number=number, **patient)
        with hold_lock(live_db, 15):
            started = time.monotonic()
            response = browser.request("/cases/new", form)
            waited = time.monotonic() - started
        log = server.output()
    assert response.status == 200 and "Fall angemeldet für Lunge" in response.text, response.text[:2000]
    assert "/cases/" in response.url
    assert waited > 10, f"answered after {waited:.1f} s: the request did not wait for the lock"
    assert _count(live_db, number) == (1, 1)
    _assert_no_patient_in(log, number, *patient.values(), "30.07.1952")


def test_past_a_short_busy_timeout_the_503_page_and_nothing_saved(live_db: LiveDatabase) -> None:
    patient = {"family_name": "Eiligmann", "given_name": "Henrike", "birth_date": "1949-02-11"}
    number = "KIS-B1-BUSY"
    with gunicorn(live_db, workers=1, log_name="busy.log", TUMORBOARD_DB_BUSY_TIMEOUT_MS="1000") as server:
        browser = Browser(server.base)
        browser.login("koordination")
        form = registration(browser, "Lunge", patient_number=number, **patient)
        with hold_lock(live_db, 5):
            started = time.monotonic()
            response = browser.request("/cases/new", form)
            answered = time.monotonic() - started
        assert response.status == 503, response.text[:2000]
        assert BUSY in response.text and response.headers.get("Retry-After") == "5"
        assert answered < 5
        assert _count(live_db, number) == (0, 0)  # nothing half-written
        # The same form again, once the lock is gone: saved, once.
        again = browser.request("/cases/new", form)
        assert again.status == 200 and "Fall angemeldet für Lunge" in again.text
        assert _count(live_db, number) == (1, 1)
        log = server.output()
    assert "database busy, request POST cases.register answered 503" in log
    _assert_no_patient_in(log, number, *patient.values(), "11.02.1949")


def _fail_on_patient_insert(db: LiveDatabase) -> None:
    """A trigger that fails the insert; on PostgreSQL its message quotes the whole row, as a check constraint's
    DETAIL ("Failing row contains (…)") would."""
    if db.is_sqlite:
        db.execute("CREATE TRIGGER b1_fail BEFORE INSERT ON patient BEGIN SELECT RAISE(ABORT, 'injected'); END")
    else:
        db.execute(
            "CREATE FUNCTION b1_fail() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected: %', row_to_json(NEW)::text; END $$",
            "CREATE TRIGGER b1_fail BEFORE INSERT ON patient FOR EACH ROW EXECUTE FUNCTION b1_fail()",
        )


def _drop_failure(db: LiveDatabase) -> None:
    if db.is_sqlite:
        db.execute("DROP TRIGGER b1_fail")
    else:
        db.execute("DROP TRIGGER b1_fail ON patient", "DROP FUNCTION b1_fail()")


def test_an_injected_database_error_logs_no_patient_data(live_db: LiveDatabase) -> None:
    patient = {"family_name": "Leakmann", "given_name": "Philippa", "birth_date": "1944-03-21"}
    number = "KIS-B1-PHI"
    with gunicorn(live_db, workers=1, log_name="phi.log") as server:
        browser = Browser(server.base)
        browser.login("koordination")
        form = registration(browser, "Lunge", patient_number=number, **patient)
        _fail_on_patient_insert(live_db)
        try:
            response = browser.request("/cases/new", form)
        finally:
            _drop_failure(live_db)
        log = server.output()
    assert response.status == 500 and "Ein interner Fehler ist aufgetreten" in response.text, log[-3000:]
    assert "unhandled error in POST cases.register" in log and "INSERT INTO patient" in log
    assert _count(live_db, number) == (0, 0)
    _assert_no_patient_in(log, number, *patient.values(), "21.03.1944")
