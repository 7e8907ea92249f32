"""Issue 13 in the browser: the live page forgives mistakes. A guest checked in with a discipline outside the list
("sonstige") is warned about and does not count; the coordinator corrects the check-in, undoes a wrong one, records
a member leaving and coming back, and checks an expected member in with one click."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import LiveServer, log_in
from tumorboard.auth.actors import CLI
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms: generous, the machine may be loaded
expect.set_options(timeout=TIMEOUT)


def _running_session(live_server: LiveServer) -> int:
    """An extra Lunge session today 08:30–09:30 Berlin (the server's clock says 09:00): it is running now."""
    runtime = live_server.runtime
    with runtime.session_factory() as session:
        board = session.scalar(select(Board).where(Board.short_name == "Lunge"))
        assert board is not None
        cs = conf.add_extra_session(
            session,
            board,
            day=dt.date(2026, 11, 23),
            start=dt.time(8, 30),
            note="Browsertest Issue 13",
            at=runtime.clock.now() - dt.timedelta(days=1),
            actor=CLI,
        )
        session.commit()
        return cs.id


def row_of(page: Page, name: str):
    return page.locator(f'table.attendance tbody tr[data-name="{name}"]')


def test_correct_undo_leave_and_return(page: Page, live_server: LiveServer, artifacts: Path) -> None:
    page.set_default_timeout(TIMEOUT)
    session_id = _running_session(live_server)
    log_in(page, "koordination")
    page.goto(f"/sessions/{session_id}/live")
    expect(page.locator("#arrival-window")).to_contain_text("23.11.2026")
    expect(page.locator("#sign-not-yet")).to_have_count(0)

    # one click for an expected board member
    expected = page.locator("ul.expected li").first
    member = expected.get_attribute("data-name")
    assert member
    expected.get_by_role("button", name=re.compile("Einchecken")).click()
    expect(page.get_by_role("status").first).to_contain_text("Eingecheckt.")
    expect(row_of(page, member)).to_have_count(1)

    # a guest with a discipline not on the list: accepted as "sonstige", with a warning, not counting
    form = page.locator("form[action$='/attendance/external']")
    form.get_by_label("Name", exact=True).fill("Dr. Thomas Thorax")
    form.get_by_label("Institution").fill("Klinik Nord")
    form.locator("select[name=discipline]").select_option("sonstige")
    form.get_by_label("sonstige Fachrichtung").fill("Thorax-Chirurgie")
    form.get_by_role("button", name="Extern einchecken").click()
    expect(page.locator(".flash.warning")).to_contain_text("zählt nicht für das Quorum")
    guest = row_of(page, "Dr. Thomas Thorax")
    expect(guest.locator(".badge")).to_contain_text(["zählt nicht für das Quorum"])
    page.screenshot(path=artifacts / "i13-live-sonstige.png", full_page=True)

    # corrected: the discipline from the list, with a reason; the warning badge is gone
    guest.get_by_text("Korrigieren").click()
    guest.locator("select[name=discipline]").select_option("Thoraxchirurgie")
    guest.get_by_label("Grund der Korrektur").fill("Fachrichtung aus der Liste gewählt")
    guest.get_by_role("button", name="Korrektur speichern").click()
    expect(page.get_by_role("status").first).to_contain_text("Check-in korrigiert.")
    expect(row_of(page, "Dr. Thomas Thorax")).to_contain_text("Thoraxchirurgie")
    expect(row_of(page, "Dr. Thomas Thorax").locator(".badge", has_text="zählt nicht")).to_have_count(0)

    # a correction without a reason is refused next to its form
    guest = row_of(page, "Dr. Thomas Thorax")
    guest.get_by_text("Korrigieren").click()
    guest.get_by_role("button", name="Korrektur speichern").click()
    expect(row_of(page, "Dr. Thomas Thorax").get_by_role("alert")).to_contain_text("Grund")

    # undone (wrong session) with a reason
    guest = row_of(page, "Dr. Thomas Thorax")
    guest.get_by_label("Grund der Rücknahme").fill("Falsche Sitzung eingecheckt")
    guest.get_by_role("button", name="Check-in zurücknehmen").click()
    expect(page.get_by_role("status").first).to_contain_text("Check-in zurückgenommen.")
    expect(row_of(page, "Dr. Thomas Thorax")).to_have_count(0)

    # the member was there from 08:35 (the one click said "now"): the arrival is corrected
    row = row_of(page, member)
    row.get_by_text("Korrigieren").click()
    row.get_by_label("Ankunft (HH:MM)").fill("08:35")
    row.get_by_label("Grund der Korrektur").fill("War pünktlich da")
    row.get_by_role("button", name="Korrektur speichern").click()
    expect(page.get_by_role("status").first).to_contain_text("Check-in korrigiert.")
    expect(row_of(page, member)).to_contain_text("08:35")

    # the member leaves at 08:50 and comes back
    row_of(page, member).get_by_label(re.compile("^Gegangen um")).fill("08:50")
    row_of(page, member).get_by_role("button", name=re.compile("Gehen erfassen")).click()
    expect(page.get_by_role("status").first).to_contain_text("Gehen erfasst.")
    row_of(page, member).get_by_role("button", name=re.compile("Wieder da")).click()
    expect(page.get_by_role("status").first).to_contain_text("Eingecheckt.")
    rows = row_of(page, member)
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("08:50")
    expect(rows.nth(1)).to_contain_text("anwesend")

    # a check-in at a time outside the window names the window
    form = page.locator("form[action$='/attendance/external']")
    form.get_by_label("Name", exact=True).fill("Dr. Zu Früh")
    form.get_by_label("Institution").fill("Klinik Süd")
    form.locator("select[name=discipline]").select_option("Radiologie")
    form.get_by_label(re.compile("^Ankunft")).fill("05:00")
    form.get_by_role("button", name="Extern einchecken").click()
    expect(page.get_by_role("alert").first).to_contain_text("erlaubt ist 23.11.2026 06:30 bis 23.11.2026 15:30 Uhr")
    page.screenshot(path=artifacts / "i13-live-after.png", full_page=True)
