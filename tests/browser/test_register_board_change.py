"""Issue 13 in the browser: the coordinator registers a case, picks a session, then changes the board — the
session list follows the board (the first board's sessions disappear, the choice falls back to the next open
session), required fields are marked, and the registration goes through."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms: generous, the machine may be loaded
expect.set_options(timeout=TIMEOUT)


def test_session_choices_follow_the_board(page: Page, artifacts: Path) -> None:
    page.set_default_timeout(TIMEOUT)
    log_in(page, "koordination")
    page.goto("/cases/new")
    form = page.locator("form.register")
    expect(form.locator("label", has=page.locator("#question")).locator("abbr.required")).to_be_visible()

    form.locator("#board").select_option(label="Hautkrebszentrum")
    session = form.locator("#session")
    haut = session.locator("option:not([hidden])[data-board]")
    expect(haut.first).to_be_attached()
    first_haut = haut.first.get_attribute("value")
    session.select_option(first_haut)
    form.locator("#board").select_option(label="Kopf-Hals-Tumorzentrum")
    expect(session).to_have_value("0")
    expect(session.locator(f'option[value="{first_haut}"]')).to_have_attribute("hidden", "")

    form.locator("#family_name").fill("Wechsel")
    form.locator("#given_name").fill("Brigitte")
    form.locator("#birth_date").fill("1966-06-06")
    form.locator("#sex").select_option(label="weiblich")
    form.locator("#patient_number").fill("KIS-I13-BOARD")
    form.locator("#icd10_code").fill("C32.0")
    form.locator("#icd10_text").fill("Glottiskarzinom")
    form.locator("#question").fill("Primäre Radiotherapie oder Laserchirurgie?")
    form.get_by_role("button", name="Fall anmelden").click()
    expect(page.get_by_role("status").first).to_contain_text("Fall angemeldet für Kopf-Hals am")
    page.screenshot(path=artifacts / "i13-registered-after-board-change.png", full_page=True)
