"""Issue 4 in the browser: a study no rule could assign waits in the triage inbox; the coordinator creates a new
case from it with one click — the registration form comes back filled with the study's values as received, no
patient data in any URL — completes board, diagnosis and question, and the study is on the new case."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import NOW, LiveServer, log_in
from tests.imaging.factories import receive
from tumorboard.auth.actors import CLI
from tumorboard.imaging import jobs
from tumorboard.partners.services import create_partner

pytestmark = pytest.mark.browser


def test_new_case_from_a_triage_study(page: Page, live_server: LiveServer, artifacts: Path) -> None:
    runtime = live_server.runtime
    with runtime.session_factory() as session:
        partner = create_partner(session, name="Klinikum Lindenhof", at=NOW, actor=CLI)
        receive(
            session, jobs._spool(runtime), partner, study_uid="1.2.826.0.1.4711", patient_name="Lindqvist^Åsa",
            patient_id="LH-0815", birth_date="19491102", accession="ACC-77", at=NOW - dt.timedelta(minutes=5),
        )  # fmt: skip
        session.commit()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    log_in(page, "koordination")
    page.goto("/imaging/triage")
    study = page.locator("section.triage-study", has_text="Lindqvist, Åsa")
    expect(study).to_contain_text("Klinikum Lindenhof")
    page.screenshot(path=artifacts / "triage-inbox.png", full_page=True)
    study.get_by_role("button", name="Neuen Fall aus dieser Studie anlegen").click()

    form = page.locator("form.register")
    expect(form.locator("#family_name")).to_have_value("Lindqvist")
    expect(form.locator("#given_name")).to_have_value("Åsa")
    expect(form.locator("#birth_date")).to_have_value("1949-11-02")
    expect(form.locator("#partner_patient_id")).to_have_value("LH-0815")
    expect(form.locator("#accession_number")).to_have_value("ACC-77")
    expect(form.locator("#referring_partner option:checked")).to_have_text("Klinikum Lindenhof")
    expect(form.locator("#imaging_expected")).to_be_checked()
    expect(page.locator(".notice")).to_contain_text("nach dem Anmelden wird die Studie diesem Fall zugeordnet")
    page.screenshot(path=artifacts / "register-from-study.png", full_page=True)

    form.locator("#board").select_option(label="Lungenkrebszentrum")
    form.locator("#patient_number").fill("KIS-LH-1")
    form.locator("#icd10_code").fill("C34.1")
    form.locator("#icd10_text").fill("Adenokarzinom des Oberlappens")
    form.locator("#question").fill("Operation oder Radiochemotherapie?")
    form.get_by_role("button", name="Fall anmelden").click()
    expect(page.get_by_role("status").first).to_contain_text("Fall angemeldet für Lunge")
    expect(page.locator("body")).to_contain_text("Die Studie aus dem Bildeingang ist diesem Fall zugeordnet.")
    expect(page.locator("body")).to_contain_text("Klinikum Lindenhof")  # the case's imaging: partner, study
    page.screenshot(path=artifacts / "case-from-study.png", full_page=True)
    assert re.search(r"/cases/\d+$", page.url)

    page.goto("/imaging/triage")
    expect(page.locator("body")).not_to_contain_text("Lindqvist")
    # Names, IDs and birth dates never travelled in a URL.
    for value in ("Lindqvist", "Åsa", "%C3%85sa", "LH-0815", "1949", "KIS-LH-1"):
        assert not any(value in url for url in urls), value
