"""Patient data never appears in calendar feeds or log output (GDPR Art. 9, issue 2)."""

from __future__ import annotations

import logging
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.conftest import csrf_from, login, post_form
from tumorboard.auth.models import User
from tumorboard.cases.models import Case
from tumorboard.cli import main
from tumorboard.conferences.jobs import generate_upcoming_sessions
from tumorboard.demo.data import PATIENTS
from tumorboard.patients.models import Patient


def _forbidden(session) -> list[str]:
    values: list[str] = []
    for p in session.scalars(select(Patient)):
        birth = p.birth_date
        values += [
            p.family_name,
            p.given_name,
            p.patient_number,
            birth.isoformat(),
            birth.strftime("%d.%m.%Y"),
            birth.strftime("%Y%m%d"),
        ]
    return [v for v in values if len(v) >= 4]  # "Lea" or "Eve" would match ordinary words


def _assert_clean(session, text: str, where: str) -> None:
    leaked = [v for v in _forbidden(session) if v.lower() in text.lower()]
    assert leaked == [], f"patient data in {where}: {leaked}"


def test_patients_exist_in_the_database(demo):
    # the check below means something only if the demo patients are really there
    numbers = {p.patient_number for p in demo.scalars(select(Patient))}
    assert {number for *_, number in PATIENTS} <= numbers and len(numbers) > 40


@pytest.mark.parametrize("locale", ["de", "en"])
def test_feeds_and_logs_hold_no_patient_data(runtime, client, demo, caplog, locale):
    caplog.set_level(logging.DEBUG)
    generate_upcoming_sessions(runtime)
    export = CliRunner().invoke(main, ["calendar", "export", "--from", "2026-11-23", "--weeks", "12"], obj=runtime)
    assert export.exit_code == 0
    _assert_clean(demo, export.stdout, "CLI calendar export")

    login(client, "koordination")
    if locale == "en":
        post_form(client, "/", "/language", {"locale": "en", "next": "/"})
    post_form(client, "/calendar", "/calendar/renew", {})
    token = demo.scalar(select(User.feed_token).where(User.username == "koordination"))
    bodies = [client.get(f"/feeds/{token}/all.ics").text]
    bodies += [client.get(f"/feeds/{token}/boards/{i}.ics").text for i in range(1, 10)]
    bodies += [client.get(url).text for url in ("/", "/clashes", "/calendar", "/sessions/1/calendar.ics")]
    for body in bodies:
        _assert_clean(demo, body, "feeds and pages")
    client.get("/sessions/424242")  # error paths log too

    # pages that show patient data: the data may be on the page, never in a URL or a log line
    case = demo.scalars(select(Case).order_by(Case.id)).first()
    pages = [
        client.get(f"/sessions/{case.session_id}").text,
        client.get(f"/cases/{case.id}").text,
        client.get("/my").text,
    ]
    token_page = client.get("/search").text
    pages.append(client.post("/search", data={"csrf_token": csrf_from(token_page), "q": case.patient.family_name}).text)
    assert case.patient.family_name in pages[0]  # the check below is not vacuous
    assert client.get(f"/sessions/{case.session_id}/agenda.pdf").status_code == 200
    urls = [u for page in pages for u in re.findall(r'(?:href|action|src)="([^"]*)"', page)]
    assert len(urls) > 20
    _assert_clean(demo, "\n".join(urls), "URLs")
    assert caplog.records, "expected some log output to check"
    _assert_clean(demo, caplog.text, "log output")
