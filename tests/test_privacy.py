"""Patient data never appears in calendar feeds or log output (GDPR Art. 9, issue 2)."""

from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.conftest import login, post_form
from tumorboard.auth.models import User
from tumorboard.cli import main
from tumorboard.conferences.jobs import generate_upcoming_sessions
from tumorboard.demo.data import PATIENTS


def _forbidden() -> list[str]:
    values: list[str] = []
    for family, given, birth, _sex, number in PATIENTS:
        values += [family, given, number, birth.isoformat(), birth.strftime("%d.%m.%Y"), birth.strftime("%Y%m%d")]
    return values


def _assert_clean(text: str, where: str) -> None:
    leaked = [v for v in _forbidden() if v.lower() in text.lower()]
    assert leaked == [], f"patient data in {where}: {leaked}"


def test_patients_exist_in_the_database(demo):
    from tumorboard.patients.models import Patient

    # the check below means something only if the demo patients are really there
    assert len(demo.scalars(select(Patient)).all()) == len(PATIENTS)


@pytest.mark.parametrize("locale", ["de", "en"])
def test_feeds_and_logs_hold_no_patient_data(runtime, client, demo, caplog, locale):
    caplog.set_level(logging.DEBUG)
    generate_upcoming_sessions(runtime)
    export = CliRunner().invoke(main, ["calendar", "export", "--from", "2026-11-23", "--weeks", "12"], obj=runtime)
    assert export.exit_code == 0
    _assert_clean(export.stdout, "CLI calendar export")

    login(client, "koordination")
    if locale == "en":
        post_form(client, "/", "/language", {"locale": "en", "next": "/"})
    post_form(client, "/calendar", "/calendar/renew", {})
    token = demo.scalar(select(User.feed_token).where(User.username == "koordination"))
    bodies = [client.get(f"/feeds/{token}/all.ics").text]
    bodies += [client.get(f"/feeds/{token}/boards/{i}.ics").text for i in range(1, 10)]
    bodies += [client.get(url).text for url in ("/", "/clashes", "/calendar", "/sessions/1/calendar.ics")]
    for body in bodies:
        _assert_clean(body, "feeds and pages")
    client.get("/sessions/424242")  # error paths log too
    assert caplog.records, "expected some log output to check"
    _assert_clean(caplog.text, "log output")
