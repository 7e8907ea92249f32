"""The issue's browser test (issue 11): QM opens the dashboard for a board and a year, sees the figures, downloads
the evidence bundle built by the background job; a physician gets 403 on the dashboard and the bundle."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.browser.conftest import NOW, LiveServer, log_in
from tests.qm.activity import build_activity
from tumorboard.auth.models import User
from tumorboard.conferences.models import Board
from tumorboard.qm.jobs import build_bundles

pytestmark = pytest.mark.browser

BOARD = "Viszeral"


@pytest.fixture(scope="module")
def history(live_server: LiveServer) -> int:
    """Ten months of activity for one demo board, as the record would hold it."""
    with live_server.runtime.session_factory() as session:
        board = session.scalars(select(Board).where(Board.short_name == BOARD)).one()
        clerk = session.scalars(select(User).where(User.username == "koordination")).one()
        build_activity(
            session, [board], first=dt.date(2026, 1, 1), last=NOW.date() - dt.timedelta(days=1), clerk=clerk,
            at=NOW, seed=7, max_cases=4,
        )  # fmt: skip
        session.commit()
        return board.id


def test_qm_dashboard_and_bundle_download(
    page: Page, browser: Browser, live_server: LiveServer, history: int, artifacts: Path
) -> None:
    log_in(page, "qm")
    page.get_by_role("link", name="Kennzahlen", exact=True).click()
    expect(page.get_by_role("heading", name="Qualitätsmanagement: Kennzahlen")).to_be_visible()
    page.locator("select[name=board]").select_option(str(history))
    page.locator("select[name=period]").select_option("year")
    page.locator("input[name=year]").fill("2026")
    page.get_by_role("button", name="Anzeigen").click()
    expect(page.get_by_role("heading", name="Zeitraum 2026 · Viszeralonkologisches Zentrum")).to_be_visible()
    charts = page.locator("img.chart")
    expect(charts).to_have_count(7)
    for n in range(7):  # every figure is an SVG the browser decoded
        assert charts.nth(n).evaluate("img => img.complete && img.naturalWidth > 0")
        assert charts.nth(n).get_attribute("src", timeout=1000).startswith("data:image/svg+xml;base64,")  # type: ignore[union-attr]
    expect(page.locator("#indicator-values tr[data-code='A1']")).to_have_count(1)
    page.screenshot(path=artifacts / "qm-dashboard.png", full_page=True)

    page.get_by_role("button", name="Nachweispaket erstellen (ZIP)").click()
    expect(page.locator("#bundle-job")).to_have_attribute("data-status", "queued")
    assert build_bundles(live_server.runtime) == 1  # the scheduler process's job
    expect(page.locator("#bundle-job")).to_have_attribute("data-status", "done", timeout=15_000)  # page refreshes
    with page.expect_download() as info:
        page.get_by_role("link", name="Nachweispaket herunterladen").click()
    body = Path(info.value.path()).read_bytes()
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("manifest.json"))
    assert manifest["period"]["label"] == "2026" and manifest["boards"][0]["short_name"] == BOARD
    job_url = page.url

    physician = browser.new_context(base_url=live_server.url)
    other = physician.new_page()
    log_in(other, "dr.berger")
    assert other.goto("/qm/").status == 403  # type: ignore[union-attr]
    assert other.goto(job_url + ".zip").status == 403  # type: ignore[union-attr]
    physician.close()
