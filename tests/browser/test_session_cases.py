"""Issue 13 in the browser: a coordinator cancels a session that has three cases and moves them to the board's next
session; the cases are on that session's list, and their presenter sees it in "Meine Fälle" and on the case page."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import LiveServer, log_in
from tests.cases.factories import case_input, make_patient
from tumorboard.auth.models import User
from tumorboard.auth.services import actor_for
from tumorboard.cases import services as cases
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms: generous, the machine may be loaded
expect.set_options(timeout=TIMEOUT)
NAMES = ("Abendroth", "Brückner", "Czerny")


def _session_with_three_cases(live_server: LiveServer) -> tuple[int, int]:
    """An extra Neuro session on Tuesday 01.12.2026 10:00 with three cases registered by dr.berger; returns its id
    and the id of the board's next session."""
    runtime = live_server.runtime
    at = runtime.clock.now()
    with runtime.session_factory() as session:
        board = session.scalar(select(Board).where(Board.short_name == "Neuro"))
        berger = session.scalar(select(User).where(User.username == "dr.berger"))
        assert board is not None and berger is not None
        cs = conf.add_extra_session(
            session, board, day=dt.date(2026, 12, 1), start=dt.time(10, 0), at=at, actor=actor_for(berger)
        )
        for n, name in enumerate(NAMES):
            patient = make_patient(session, at, family_name=name, given_name="Test", patient_number=f"KIS-I13-{n}")
            cases.add_case(
                session,
                board=board,
                patient=patient,
                data=case_input(presenter_id=berger.id),
                registered_by=berger,
                at=at,
                actor=actor_for(berger),
                target=cs,
            )
        following = cases.next_session_after(session, cs, at=at)
        assert following is not None
        session.commit()
        return cs.id, following.id


def test_cancel_a_session_with_three_cases_and_move_them(page: Page, live_server: LiveServer, artifacts: Path) -> None:
    page.set_default_timeout(TIMEOUT)
    session_id, next_id = _session_with_three_cases(live_server)
    log_in(page, "koordination")
    page.goto(f"/sessions/{session_id}")
    cancel = page.locator("#cancel-form")
    expect(cancel.get_by_role("group")).to_contain_text("Auf dieser Sitzung stehen 3 Fälle.")

    # without a choice the form says so next to itself, and nothing happens
    cancel.get_by_label("Grund der Absage").fill("Raum wird renoviert")
    cancel.get_by_role("button", name="Absagen").click()
    expect(page.locator("#cancel-form [role=alert]")).to_contain_text("Bitte wählen, was mit ihnen geschieht.")
    expect(page.locator("#session-status")).to_contain_text("geplant")

    page.locator("#cancel-form").get_by_label(re.compile(r"Alle auf die nächste Sitzung verschieben")).check()
    page.locator("#cancel-form").get_by_role("button", name="Absagen").click()
    expect(page.get_by_role("status")).to_contain_text("Sitzung abgesagt.")
    expect(page.locator("#session-status")).to_contain_text("abgesagt")
    expect(page.get_by_text("Noch keine Fälle angemeldet.")).to_be_visible()
    page.screenshot(path=artifacts / "i13-session-cancelled.png", full_page=True)

    page.goto(f"/sessions/{next_id}")
    rows = page.locator("table.caselist tbody tr")
    for name in NAMES:
        expect(rows.filter(has_text=f"{name}, Test")).to_have_count(1)
    page.get_by_role("button", name="Abmelden").click()

    log_in(page, "dr.berger")
    page.get_by_role("link", name="Meine Fälle").click()
    for name in NAMES:
        row = page.get_by_role("row").filter(has_text=f"{name}, Test")
        expect(row).to_contain_text("Sitzung abgesagt – verschoben auf")
    page.get_by_role("link", name=f"{NAMES[0]}, Test").click()
    expect(page.locator(".session-note")).to_contain_text("Sitzung abgesagt – verschoben auf")
    expect(page.get_by_text("Raum wird renoviert")).to_be_visible()
    page.screenshot(path=artifacts / "i13-case-page.png", full_page=True)
