"""The issue's browser test: log in, open a board, cancel a session, see it cancelled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

BOARD = "Viszeralonkologisches Zentrum"
REASON = "Kongress der Deutschen Krebsgesellschaft – Vertretung nicht möglich"


def shoot(page: Page, artifacts: Path, name: str) -> None:
    size = page.viewport_size or {"width": 0, "height": 0}
    page.screenshot(path=artifacts / f"{name}-{size['width']}x{size['height']}.png", full_page=True)


def test_coordinator_cancels_a_session(page: Page, artifacts: Path) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)$"))
    page.get_by_label("Benutzername").fill("koordination")
    page.get_by_label("Passwort").fill("tumorboard-demo")
    page.get_by_role("button", name="Anmelden").click()

    expect(page.get_by_role("heading", name="Konferenzen", level=1)).to_be_visible()
    shoot(page, artifacts, "1-overview")
    page.get_by_role("link", name=BOARD, exact=True).click()

    expect(page.get_by_role("heading", name=BOARD, level=1)).to_be_visible()
    sessions = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Termin"))
    planned = sessions.get_by_role("row").filter(has=page.get_by_text("geplant", exact=True)).first
    link = planned.get_by_role("link")
    when = link.inner_text()
    shoot(page, artifacts, "2-board")
    link.click()

    expect(page.get_by_role("heading", name=f"Sitzung Viszeral, {when}")).to_be_visible()
    page.get_by_label("Grund der Absage", exact=True).fill(REASON)
    page.get_by_label("Auf der abgesagten Sitzung belassen").check()  # the demo session has cases (issue 13)
    page.get_by_role("button", name="Absagen", exact=True).click()

    expect(page.get_by_role("status")).to_contain_text("Sitzung abgesagt.")
    expect(page.locator("#session-status")).to_have_text("abgesagt")
    expect(page.get_by_role("definition").filter(has_text=REASON)).to_have_text(REASON)
    expect(page.get_by_role("button", name="Absagen", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Wieder aufnehmen")).to_be_visible()
    shoot(page, artifacts, "3-session-cancelled")

    page.get_by_role("link", name=f"← {BOARD}").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=when, exact=True))
    expect(row.get_by_role("cell").nth(1)).to_have_text("abgesagt")
    expect(row.get_by_role("cell").nth(2)).to_have_text(REASON)
    shoot(page, artifacts, "4-board-after")
