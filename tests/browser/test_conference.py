"""The issue's browser test: a whole conference in Chromium — five physicians check in (one by video, one leaving
early, one standing in for a colleague), the quorum turns from missing to complete, three recommendations, sign-off
— and the signed protocol PDF (pdftotext) lists exactly the participants present at each case.

The server runs on its own SQLite file with a clock the test moves, so arrival, leaving and recording happen at
distinct times exactly as in a real session."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from werkzeug.serving import make_server

from tests.browser.conftest import NOW, log_in
from tests.cases.factories import register, upcoming_sessions
from tests.factories import make_board
from tumorboard.access.models import BoardRole
from tumorboard.access.services import add_default_members, set_member
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.auth.services import create_user
from tumorboard.bootstrap import bootstrap
from tumorboard.clock import FixedClock
from tumorboard.conferences.models import QuorumKind
from tumorboard.conferences.quorum import QuorumSpec
from tumorboard.config import Settings
from tumorboard.db import make_engine
from tumorboard.demo.data import DEMO_PASSWORD, load_demo
from tumorboard.migrate import upgrade
from tumorboard.web import create_app

pytestmark = pytest.mark.browser

BERGER = "Dr. Anna Berger (Demo)"  # Radiologie, by video
YILMAZ = "Dr. Deniz Yılmaz (Demo)"  # Pathologie
WAGNER = "Prof. Dr. Clara Wagner (Demo)"  # Hämatologie/Onkologie
KRUEGER = "Dr. Jonas Krüger (Demo)"  # Viszeralchirurgie, leaves after the first case
NEUMANN = "Dr. Lena Neumann (Test)"  # Strahlentherapie, stands in for Dr. Paul Schmitz
ALL = (BERGER, YILMAZ, WAGNER, KRUEGER, NEUMANN)


@dataclass
class Live:
    url: str
    clock: FixedClock
    session_id: int
    case_ids: list[int]
    starts_at: dt.datetime

    def at(self, minutes: int) -> None:
        self.clock.current = self.starts_at + dt.timedelta(minutes=minutes)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("conference")
    url = f"sqlite:///{tmp / 'tumorboard.sqlite'}"
    settings = Settings.from_env(
        {"TUMORBOARD_ENV": "test", "TUMORBOARD_SECRET_KEY": "c" * 48, "TUMORBOARD_DATABASE_URL": url,
         "TUMORBOARD_INSTANCE_PATH": str(tmp)}
    )  # fmt: skip
    engine = make_engine(url)
    try:
        upgrade(engine)
        clock = FixedClock(NOW)
        runtime = bootstrap(settings, engine=engine, clock=clock)
        with runtime.session_factory() as session:
            assert load_demo(session, at=NOW, actor=CLI, horizon_weeks=4)
            create_user(session, username="dr.neumann", display_name=NEUMANN, password=DEMO_PASSWORD,
                        role="physician", discipline="Strahlentherapie", at=NOW, actor=CLI)  # fmt: skip
            board = make_board(
                session, NOW, name="Testkonferenz Live", short_name="Live",
                quorum=[QuorumSpec(QuorumKind.ALL_OF, ("Radiologie", "Pathologie", "Strahlentherapie")),
                        QuorumSpec(QuorumKind.ONE_OF, ("Hämatologie/Onkologie", "Gastroenterologie"))],
            )  # fmt: skip
            cs = next(s for s in upcoming_sessions(session, board, NOW) if s.starts_at > NOW)
            berger = session.scalar(select(User).where(User.username == "dr.berger"))
            add_default_members(session, board, at=NOW, actor=CLI)
            set_member(session, board, berger, BoardRole.MODERATOR, at=NOW, actor=CLI)  # she signs (issue 10)
            cases = [register(session, board, at=NOW, by=berger, target=cs, question=f"Frage {i}") for i in (1, 2, 3)]
            session.commit()
            info = Live("", clock, cs.id, [c.id for c in cases], cs.starts_at)
        server = make_server("127.0.0.1", 0, create_app(runtime), threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="conference-server", daemon=True)
        thread.start()
        try:
            info.url = f"http://127.0.0.1:{server.server_port}"
            yield info
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
    finally:
        engine.dispose()


def check_in(page: Page, who: str, *, video: bool = False, stands_in: tuple[str, str] | None = None) -> None:
    form = page.locator("form", has=page.get_by_role("button", name="Einchecken", exact=True))
    form.get_by_label("Ärztin/Arzt").select_option(label=next(
        o for o in form.get_by_label("Ärztin/Arzt").locator("option").all_inner_texts() if o.startswith(who)
    ))  # fmt: skip
    form.get_by_label("Video" if video else "vor Ort", exact=True).check()
    if stands_in:
        form.get_by_label("vertritt (Name)").fill(stands_in[0])
        form.get_by_label("vertritt (Fachrichtung)").select_option(stands_in[1])  # the list, issue 13
    form.get_by_role("button", name="Einchecken", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Eingecheckt.")
    expect(page.locator(f'tr[data-name="{who}"]')).to_be_visible()


def recommend(page: Page, live: Live, number: int, types: list[str], text: str) -> None:
    page.goto(f"{live.url}/sessions/{live.session_id}/live#faelle")
    page.get_by_role("link", name=f"Empfehlung erfassen (Fall {number})").click()
    for code in types:
        page.locator(f"#rec-type-{code}").check()
    page.get_by_label("Empfehlung", exact=True).fill(text)
    page.get_by_role("button", name="Empfehlung speichern").click()
    expect(page.get_by_role("status")).to_contain_text("Empfehlung gespeichert.")
    expect(page.locator("#shown-text")).to_have_text(text)


def test_a_whole_conference_from_check_in_to_the_signed_protocol(page: Page, live: Live, tmp_path: Path) -> None:
    live.at(-5)
    log_in(page, base=live.url, username="koordination")
    page.goto(f"{live.url}/sessions/{live.session_id}")
    page.get_by_role("link", name="Konferenz live: Anwesenheit, Quorum, Empfehlungen").click()
    quorum = page.locator("#quorum-state")
    expect(quorum).to_contain_text("Quorum fehlt")

    check_in(page, BERGER, video=True)
    check_in(page, YILMAZ)
    live.at(-2)
    check_in(page, KRUEGER)
    check_in(page, WAGNER)
    expect(quorum).to_have_text("Quorum fehlt: Strahlentherapie")
    live.at(0)
    check_in(page, NEUMANN, stands_in=("Dr. Paul Schmitz", "Strahlentherapie"))
    expect(quorum).to_have_text("Quorum erfüllt")
    expect(page.locator(f'tr[data-name="{BERGER}"]')).to_contain_text("Video")
    expect(page.locator(f'tr[data-name="{NEUMANN}"]')).to_contain_text("Dr. Paul Schmitz (Strahlentherapie)")

    live.at(10)
    recommend(page, live, 1, ["OP", "CH"], "Resektion, danach adjuvante Chemotherapie.")
    live.at(15)
    page.goto(f"{live.url}/sessions/{live.session_id}/live")
    page.get_by_role("button", name=f"Gehen erfassen: {KRUEGER}").click()
    expect(page.get_by_role("status")).to_contain_text("Gehen erfasst.")
    expect(quorum).to_have_text("Quorum erfüllt")  # the surgeon was not part of the quorum
    live.at(20)
    recommend(page, live, 2, ["ST"], "Stereotaktische Radiotherapie der Metastase.")
    live.at(30)
    recommend(page, live, 3, ["WW"], "Abwartendes Vorgehen, Kontrolle in drei Monaten.")

    # the moderator signs: a wrong password changes nothing, the right one signs version 1
    live.at(45)
    page.get_by_role("button", name="Abmelden").click()
    log_in(page, base=live.url, username="dr.berger")
    page.goto(f"{live.url}/sessions/{live.session_id}/live")
    page.get_by_label("Passwort zur Bestätigung").fill("falsch")
    page.get_by_role("button", name="Protokoll unterschreiben").click()
    expect(page.get_by_role("alert")).to_contain_text("Das Passwort ist falsch")
    page.get_by_label("Passwort zur Bestätigung").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Protokoll unterschreiben").click()
    expect(page.get_by_role("status")).to_contain_text("Protokoll unterschrieben (Version 1).")
    sha = page.locator("code.sha256").first.inner_text()
    assert len(sha) == 64

    pdf = page.request.get(f"{live.url}/sessions/{live.session_id}/protocol/v1.pdf").body()
    path = tmp_path / "protokoll.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout
    assert hashlib.sha256(pdf).hexdigest() == sha
    sections = {int(part.split(":", 1)[0]): part for part in text.split("Fall ")[1:] if part[:1].isdigit()}
    expected = {1: set(ALL), 2: set(ALL) - {KRUEGER}, 3: set(ALL) - {KRUEGER}}
    for number, names in expected.items():
        present = {name for name in ALL if name in " ".join(sections[number].split())}
        assert present == names, (number, present)
    head = text.split("Fall 1:")[0]
    assert all(name in " ".join(head.split()) for name in ALL)  # the attendance list names everyone
