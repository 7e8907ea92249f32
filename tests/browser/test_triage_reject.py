"""Issue 13 in the browser: in the triage inbox the coordinator finds a study's case by searching (birth date),
gets a message at the study for a case number that does not exist, and rejects a study sent by mistake (with a
reason); both leave the inbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, log_in
from tests.imaging.factories import make_case, receive
from tumorboard.auth.actors import CLI
from tumorboard.imaging import jobs
from tumorboard.partners.services import create_partner

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms: generous, the machine may be loaded
expect.set_options(timeout=TIMEOUT)


def _two_studies(live_server: LiveServer) -> tuple[int, int]:
    runtime = live_server.runtime
    at = runtime.clock.now()
    with runtime.session_factory() as session:
        partner = create_partner(session, name="Klinikum Issue 13", at=at, actor=CLI)
        make_case(session, at, family="Sonnenschein", given="Theodor", birth=dt.date(1949, 9, 9))
        spool = jobs._spool(runtime)
        match = receive(session, spool, partner, at=at, study_uid="1.2.826.0.1.1313.1",
                        patient_name="Sonnenschein^Theodor", patient_id="P-1313", birth_date="19490909")  # fmt: skip
        wrong = receive(session, spool, partner, at=at, study_uid="1.2.826.0.1.1313.2",
                        patient_name="Irrtum^Ines", patient_id="P-1314", birth_date="19770707")  # fmt: skip
        session.commit()
        return match.id, wrong.id


def test_assign_and_reject_in_the_triage(page: Page, live_server: LiveServer, artifacts: Path) -> None:
    page.set_default_timeout(TIMEOUT)
    match_id, wrong_id = _two_studies(live_server)
    log_in(page, "koordination")
    page.goto("/imaging/triage")

    wrong = page.locator(f"#studie-{wrong_id}")
    wrong.get_by_text("Zuordnen über die Fallnummer").click()
    wrong.get_by_label("Fall-Nr.").fill("987654")
    wrong.get_by_role("button", name="Zuordnen", exact=True).click()
    expect(page.locator(".flash.error")).to_contain_text("Einen Fall mit dieser Nummer gibt es nicht.")

    wrong = page.locator(f"#studie-{wrong_id}")
    wrong.get_by_label("Grund der Ablehnung").fill("Falsche Patientin, vom Partner irrtümlich gesendet")
    wrong.get_by_role("button", name="Irrtümlich gesendet: ablehnen").click()
    expect(page.get_by_role("status").first).to_contain_text("Studie abgelehnt")
    expect(page.locator(f"#studie-{wrong_id}")).to_have_count(0)

    # found by searching, not by an internal number
    match = page.locator(f"#studie-{match_id}")
    match.get_by_label("Fall suchen").fill("Irrtum")
    match.get_by_role("button", name="Suchen").click()
    expect(page.locator(f"#studie-{match_id} .search-results")).to_contain_text("Kein angemeldeter Fall passt")
    match = page.locator(f"#studie-{match_id}")
    match.get_by_label("Fall suchen").fill("09.09.1949")
    match.get_by_role("button", name="Suchen").click()
    results = page.locator(f"#studie-{match_id} .search-results")
    results.locator("li", has_text="Sonnenschein, Theodor").get_by_role("button", name="Diesem Fall zuordnen").click()
    expect(page.get_by_role("status").first).to_contain_text("Studie dem Fall zugeordnet.")
    expect(page.locator(f"#studie-{match_id}")).to_have_count(0)
    page.screenshot(path=artifacts / "i13-triage-after.png", full_page=True)
