"""Issue 3 in the browser: a physician registers a case, it appears on the next session of that board, the
coordinator reorders the list by drag and drop and downloads the agenda PDF; pdftotext shows the new order with
umlauts intact."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def test_register_reorder_and_agenda_pdf(page: Page, artifacts: Path) -> None:
    log_in(page, "dr.berger")
    page.get_by_role("link", name="Fall anmelden").first.click()
    form = page.locator("form.register")
    form.locator("#board").select_option(label="Lungenkrebszentrum")
    form.locator("#family_name").fill("Österreicher-Weiß")
    form.locator("#given_name").fill("Jürgen")
    form.locator("#birth_date").fill("1957-08-21")
    form.locator("#sex").select_option(label="männlich")
    form.locator("#patient_number").fill("KIS-BROWSER-1")
    form.locator("#icd10_code").fill("C34.1")
    form.locator("#icd10_text").fill("Adenokarzinom des Oberlappens")
    form.locator("#question").fill("Lobektomie oder stereotaktische Bestrahlung?")
    form.get_by_role("button", name="Fall anmelden").click()
    expect(page.get_by_role("status")).to_contain_text("Fall angemeldet für Lunge am 24.11.2026 16:30.")
    page.screenshot(path=artifacts / "case-registered.png", full_page=True)

    # it is on the case list of the next Lunge session (Tuesday 24.11.2026 16:30)
    page.get_by_role("link", name=re.compile(r"^← Lungenkrebszentrum")).click()
    expect(page.get_by_role("heading", name="Sitzung Lunge, Di., 24.11.2026, 16:30")).to_be_visible()
    rows = page.locator("table.caselist tbody tr")
    expect(rows.last).to_contain_text("Österreicher-Weiß, Jürgen")
    session_url = page.url
    page.get_by_role("button", name="Abmelden").click()

    # the coordinator drags the new case to the top and saves the order
    log_in(page, "koordination")
    page.goto(session_url)
    rows = page.locator("table.caselist tbody tr")
    names_before = [t.split("\n")[0] for t in rows.locator("td:nth-child(2) a").all_inner_texts()]
    assert names_before[-1] == "Österreicher-Weiß, Jürgen" and len(names_before) >= 3
    # the whole list on screen: an HTML5 drag towards a row outside the viewport scrolls mid-drag and drops nothing
    page.set_viewport_size({"width": 1280, "height": 1600})
    rows.first.scroll_into_view_if_needed()
    rows.last.drag_to(rows.first)
    expect(rows.first).to_contain_text("Österreicher-Weiß, Jürgen")
    expect(rows.first.locator("td.num")).to_have_text("1")
    expect(page.locator("#order-unsaved")).to_be_visible()  # issue 13: an unsaved order is pointed out
    page.get_by_role("button", name="Reihenfolge speichern").click()
    expect(page.locator("#faelle").get_by_role("status")).to_contain_text("Reihenfolge gespeichert.")
    names_after = rows.locator("td:nth-child(2) a").all_inner_texts()
    assert names_after == [names_before[-1], *names_before[:-1]]
    # the button fallback works too: move the second case down one place
    rows.nth(1).get_by_role("button", name="nach unten").click()
    names_final = page.locator("table.caselist tbody tr td:nth-child(2) a").all_inner_texts()
    assert names_final == [names_after[0], names_after[2], names_after[1], *names_after[3:]]
    page.screenshot(path=artifacts / "case-list-reordered.png", full_page=True)

    with page.expect_download() as info:
        page.get_by_role("link", name="Tagesordnung (PDF)").click()
    pdf = artifacts / "agenda.pdf"
    info.value.save_as(pdf)
    assert info.value.suggested_filename == "tagesordnung-lunge-2026-11-24.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    # names may wrap inside their table cell, so compare by family name
    positions = [text.index(name.split(",")[0] + ",") for name in names_final]
    assert positions == sorted(positions), (names_final, text)
    assert "Österreicher-Weiß," in text and "Lungenkrebszentrum" in text and "geb. 21.08.1957" in text
