"""Issue 13: at 800 px (a tablet) no main page scrolls sideways — every table fits or scrolls inside its own
container. Each page is loaded as the role that works with it; the page's own width must not exceed the viewport."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import LiveServer, log_in
from tumorboard.cases.models import Case
from tumorboard.conferences.models import Board, ConferenceSession, SessionStatus

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms: generous, the machine may be loaded
expect.set_options(timeout=TIMEOUT)
WIDTH = 800


def _ids(live_server: LiveServer) -> dict[str, int]:
    """A board, an upcoming session of it with cases, and one of those cases (demo data)."""
    with live_server.runtime.session_factory() as session:
        board = session.scalar(select(Board).where(Board.short_name == "Viszeral"))
        assert board is not None
        rows = session.scalars(
            select(ConferenceSession)
            .where(ConferenceSession.board_id == board.id, ConferenceSession.status == SessionStatus.PLANNED)
            .order_by(ConferenceSession.starts_at)
        ).all()
        now = live_server.runtime.clock.now()
        upcoming = [cs.id for cs in rows if cs.starts_at > now]
        case = session.scalar(select(Case).where(Case.session_id.in_(upcoming)).order_by(Case.id).limit(1))
        assert case is not None
        return {"board": board.id, "session": case.session_id, "case": case.id}


def _overflow(page: Page) -> list[str]:
    """Elements wider than the viewport, outside any container that scrolls them (tag#id.class and width)."""
    return page.evaluate(
        """(limit) => {
          const out = [];
          const scrolls = (el) => {
            for (let p = el.parentElement; p; p = p.parentElement) {
              const s = getComputedStyle(p).overflowX;
              if ((s === 'auto' || s === 'scroll') && p.clientWidth <= limit) return true;
            }
            return false;
          };
          for (const el of document.body.querySelectorAll('*')) {
            const r = el.getBoundingClientRect();
            if (r.right > limit + 1 && !scrolls(el)) {
              out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ${Math.round(r.right)}`);
            }
          }
          return out.slice(0, 5);
        }""",
        WIDTH,
    )


PAGES = {
    "koordination": [
        "/",
        "/boards/{board}",
        "/sessions/{session}",
        "/sessions/{session}/live",
        "/sessions/{session}/protocol",
        "/cases/{case}",
        "/clashes",
        "/search",
        "/calendar",
        "/imaging/triage",
        "/cases/new",
        "/boards/{board}/members",
    ],
    "dr.berger": ["/", "/my", "/cases/new"],
    "qm": ["/", "/audit", "/qm/", "/qm/indicators", "/qm/emergency"],
    "admin": ["/", "/admin/partners"],
}


@pytest.mark.parametrize("user", list(PAGES))
def test_no_main_page_scrolls_sideways_at_800_px(page: Page, live_server: LiveServer, artifacts: Path, user) -> None:
    page.set_default_timeout(TIMEOUT)
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    ids = _ids(live_server)
    log_in(page, user)
    failures = {}
    for template in PAGES[user]:
        url = template.format(**ids)
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        expect(page.locator("main")).to_be_visible()
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        if scroll > client:
            failures[url] = (scroll, _overflow(page))
            page.screenshot(path=artifacts / f"wide-{user}-{len(failures)}.png", full_page=True)
    assert not failures, failures
