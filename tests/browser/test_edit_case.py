"""Issue 13 in the browser: a registered case is edited instead of withdrawn and registered again — the physician
corrects a typo before the agenda is frozen; the change shows on the case page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms: generous, the machine may be loaded
expect.set_options(timeout=TIMEOUT)


def test_registrant_edits_a_case(page: Page, artifacts: Path) -> None:
    page.set_default_timeout(TIMEOUT)
    log_in(page, "dr.berger")
    page.goto("/cases/new")
    form = page.locator("form.register")
    form.locator("#board").select_option(label="Neuroonkologisches Zentrum")
    form.locator("#family_name").fill("Tippfehler")
    form.locator("#given_name").fill("Konrad")
    form.locator("#birth_date").fill("1970-07-07")
    form.locator("#sex").select_option(label="männlich")
    form.locator("#patient_number").fill("KIS-I13-EDIT")
    form.locator("#icd10_code").fill("C17.1")
    form.locator("#icd10_text").fill("Glioblastom")
    form.locator("#question").fill("Resektion oder Biopsie?")
    form.get_by_role("button", name="Fall anmelden").click()
    expect(page.get_by_role("status").first).to_contain_text("Fall angemeldet für Neuro")

    page.get_by_text("Angaben bearbeiten").click()
    edit = page.locator("#edit-form")
    edit.locator("#edit-icd10_code").fill("C71.1")
    edit.locator("#edit-tnm").fill("WHO Grad 4")
    edit.get_by_role("button", name="Änderungen speichern").click()
    expect(page.get_by_role("status").first).to_contain_text("Fall gespeichert.")
    expect(page.locator("dl.facts")).to_contain_text("C71.1")
    expect(page.locator("dl.facts")).to_contain_text("WHO Grad 4")

    # a bad code is refused next to the edit form, nothing saved
    page.get_by_text("Angaben bearbeiten").click()
    page.locator("#edit-icd10_code").fill("Hirntumor")
    page.locator("#edit-form").get_by_role("button", name="Änderungen speichern").click()
    expect(page.locator("#bearbeiten [role=alert]")).to_contain_text("ist kein ICD-10-GM-Kode")
    page.screenshot(path=artifacts / "i13-edit-case.png", full_page=True)
