"""Browser tests: a real werkzeug server on 127.0.0.1 and Debian's Chromium driven by Playwright.

The server gets its own SQLite file with the demo loaded; these tests never touch the ``engine`` fixture of
``tests/conftest.py``, so they are not db tests and do not run again on PostgreSQL. Nothing leaves loopback:
see ``/work/shared/testing-peers.md`` §2 for the Chromium flags.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from tumorboard.auth.actors import CLI
from tumorboard.bootstrap import Runtime, bootstrap
from tumorboard.clock import FixedClock
from tumorboard.config import Settings
from tumorboard.db import make_engine
from tumorboard.demo.data import DEMO_PASSWORD, load_demo
from tumorboard.migrate import upgrade
from tumorboard.web import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # without this Chromium asks the system resolver for Google hosts; with it only loopback resolves
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]
DESKTOP = {"width": 1280, "height": 800}
#: A Monday morning in Berlin (09:00 CET), as in tests/conftest.py: every session the pages list is upcoming.
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def log_in(page: Page, username: str, *, base: str = "") -> None:
    """Log in through the login form as a demo user (``base``: the server, when the page has no base URL) and wait
    until the page after it shows the logout button."""
    page.goto(f"{base}/login")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("button", name="Abmelden")).to_be_visible()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # ``--device "iPad Mini"`` (768x1024) replaces the desktop viewport
    return {"viewport": DESKTOP, "locale": "de-DE", "timezone_id": "Europe/Berlin", **browser_context_args}


@dataclass(frozen=True)
class LiveServer:
    url: str
    #: The server's own runtime (database, clock, settings), for tests that put data in place first.
    runtime: Runtime


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    return live_server.url


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on a free port of 127.0.0.1, with a fresh migrated SQLite database holding the demo."""
    tmp = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{tmp / 'tumorboard.sqlite'}"
    settings = Settings.from_env(
        {
            "TUMORBOARD_ENV": "test",
            "TUMORBOARD_SECRET_KEY": "b" * 48,
            "TUMORBOARD_DATABASE_URL": url,
            "TUMORBOARD_INSTANCE_PATH": str(tmp),
        }
    )
    engine = make_engine(url)
    try:
        upgrade(engine)
        clock = FixedClock(NOW)
        runtime = bootstrap(settings, engine=engine, clock=clock)
        with runtime.session_factory() as session:
            assert load_demo(session, at=clock.now(), actor=CLI, horizon_weeks=settings.horizon_weeks)
            session.commit()
        server = make_server("127.0.0.1", 0, create_app(runtime), threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
        thread.start()
        try:
            yield LiveServer(f"http://127.0.0.1:{server.server_port}", runtime)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
    finally:
        engine.dispose()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: ``$TEST_ARTIFACTS`` if set (CI keeps it), else the test's tmp dir."""
    target = Path(os.environ.get("TEST_ARTIFACTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target
