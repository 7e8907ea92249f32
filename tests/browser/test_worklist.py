"""Issue 13 in the browser: the start page is a worklist — the coordinator sees the next two weeks' sessions with
case counts, the deadline countdown and what is missing per case, and reaches the triage inbox and the cases from
it; a physician sees their cases and sessions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms: generous, the machine may be loaded
expect.set_options(timeout=TIMEOUT)


def test_worklist_for_coordinator_and_physician(page: Page, artifacts: Path) -> None:
    page.set_default_timeout(TIMEOUT)
    log_in(page, "koordination")
    work = page.locator("#arbeitsliste")
    expect(work.get_by_role("heading", name="Arbeitsliste")).to_be_visible()
    rows = work.locator("table.worklist tbody tr[data-session]")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 9  # nine boards meet at least once in two weeks
    expect(rows.first.get_by_role("cell").nth(2)).to_contain_text("Anmeldeschluss vorbei")  # Monday: last Friday
    expect(rows.last.get_by_role("cell").nth(2)).to_contain_text("noch")
    expect(work.locator("table.worklist")).to_contain_text("Histologie liegt vor")
    expect(work.locator("#unsigned")).to_be_visible()
    page.screenshot(path=artifacts / "i13-worklist.png", full_page=True)

    # from the worklist to a case that lacks something
    first_case = work.locator("table.worklist tbody td a[href*='/cases/']").first
    first_case.click()
    expect(page.get_by_role("heading", name="Checkliste")).to_be_visible()
    page.go_back()
    page.locator("#inbox-count").click()
    expect(page).to_have_url(re.compile(r"/imaging/triage$"))
    page.get_by_role("button", name="Abmelden").click()

    log_in(page, "dr.berger")
    expect(page.get_by_role("heading", name="Meine Arbeitsliste")).to_be_visible()
    expect(page.locator("#my-sessions li").first).to_be_visible()
