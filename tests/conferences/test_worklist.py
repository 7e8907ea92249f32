"""The start page's worklist (issue 13) per role, through the test client on the demo."""

from __future__ import annotations

import datetime as dt

from tests.conftest import csrf_from, login
from tumorboard.conferences.pages import coordinator_worklist, countdown
from tumorboard.imaging.matching import triage_inbox


def test_countdown_counts_days_hours_minutes_and_says_when_passed(clock):
    at = clock.now()
    left = countdown(at + dt.timedelta(days=2, hours=3, minutes=4), at)
    assert (left.days, left.hours, left.minutes, left.passed) == (2, 3, 4, False)
    assert countdown(at - dt.timedelta(minutes=1), at).passed


def test_coordinator_sees_sessions_of_two_weeks_with_counts_deadlines_missing_inbox_and_unsigned(client, demo, clock):
    at = clock.now()
    data = coordinator_worklist(demo, at=at)
    assert data["sessions"]
    assert all(at < w.cs.ends_at and w.cs.starts_at <= at + dt.timedelta(days=14) for w in data["sessions"])
    assert any(c.missing for w in data["sessions"] for c in w.cases)
    assert data["inbox"] == len(triage_inbox(demo))
    login(client, "koordination")
    page = client.get("/").text
    section = page.split('id="arbeitsliste"', 1)[1].split("</section>", 1)[0]
    assert "Sitzungen der nächsten zwei Wochen" in section
    assert f"{data['inbox']} Studie" in section
    first = data["sessions"][0]
    assert f'data-session="{first.cs.id}"' in section
    assert "noch " in section
    missing = next(m for w in data["sessions"] for c in w.cases for m in c.missing)
    assert missing in section


def test_physician_sees_own_cases_and_next_sessions_and_qm_the_period(client, demo):
    login(client, "dr.berger")
    page = client.get("/").text
    assert "Meine Arbeitsliste" in page and 'id="my-sessions"' in page and 'id="my-cases"' in page
    client.post("/logout", data={"csrf_token": csrf_from(page)})
    login(client, "qm")
    page = client.get("/").text
    assert "Überblick seit" in page and "Zusammen" in page
