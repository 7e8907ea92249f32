"""Issue 10's forging scenario in Chromium: a physician who is no member of the Brust board tries, with his own
password, the eight requests that once produced a signed protocol with invented attendance — check in three absent
colleagues and two invented externals with exactly the missing quorum disciplines, check himself in, record a
recommendation, sign — and then amends a session he never attended. Each request is refused with a clear German
message, and nothing is stored. A deputy of the moderation who was not checked in cannot amend either.

The forms are not shown to him, so the test forges them the way an attacker would: a form built in the page with
the page's own CSRF token, posted by the browser."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from tests.browser.conftest import NOW, log_in
from tests.cases.factories import register
from tumorboard.attendance.models import Attendance
from tumorboard.attendance.services import check_in
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.auth.services import actor_for
from tumorboard.bootstrap import bootstrap
from tumorboard.clock import FixedClock
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.config import Settings
from tumorboard.db import make_engine
from tumorboard.demo.data import DEMO_PASSWORD, load_demo
from tumorboard.migrate import upgrade
from tumorboard.protocol import services as proto
from tumorboard.protocol.models import ProtocolVersion, Recommendation
from tumorboard.web import create_app

pytestmark = pytest.mark.browser


@dataclass
class Forgery:
    url: str
    factory: sessionmaker[Session]
    brust: int  #: the session he forges (Brust, today, in progress)
    brust_case: int
    gyn_case: int  #: a case of a signed Gyn session he never attended
    users: dict[str, int]


def _today(session: Session, short: str) -> ConferenceSession:
    board = session.scalar(select(Board).where(Board.short_name == short))
    day = NOW.date()
    return next(cs for cs in session.scalars(select(ConferenceSession).where(ConferenceSession.board_id == board.id))
                if cs.local_start.date() == day)  # fmt: skip


@pytest.fixture(scope="module")
def forgery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forgery]:
    tmp = tmp_path_factory.mktemp("forgery")
    url = f"sqlite:///{tmp / 'tumorboard.sqlite'}"
    settings = Settings.from_env(
        {"TUMORBOARD_ENV": "test", "TUMORBOARD_SECRET_KEY": "f" * 48, "TUMORBOARD_DATABASE_URL": url,
         "TUMORBOARD_INSTANCE_PATH": str(tmp)}
    )  # fmt: skip
    engine = make_engine(url)
    try:
        upgrade(engine)
        clock = FixedClock(NOW)
        runtime = bootstrap(settings, engine=engine, clock=clock)
        with runtime.session_factory() as session:
            assert load_demo(session, at=NOW, actor=CLI, horizon_weeks=2)
            users = {u.username: u for u in session.scalars(select(User))}
            coord = users["koordination"]
            brust, gyn = _today(session, "Brust"), _today(session, "Gyn")  # both Monday 14:30
            brust_case = register(session, brust.board, at=NOW, by=coord, target=brust, question="Frage Brust")
            gyn_case = register(session, gyn.board, at=NOW, by=coord, target=gyn, question="Frage Gyn")
            # the Gyn session is held and signed by its moderator, dr.berger; dr.krueger and dr.yilmaz are not there
            at = gyn.starts_at + dt.timedelta(minutes=5)
            for name in ("dr.berger", "dr.schmitz"):
                check_in(
                    session, gyn, user=users[name], mode="in_person", signed=False, recorded_by=coord, at=at, actor=CLI
                )
            proto.record_recommendation(
                session, gyn_case, proto.RecommendationInput(therapy_types=["OP"], text="Operation."),
                quorum_reason="Pathologie und Onkologie schriftlich", user=coord, at=at, actor=actor_for(coord),
            )  # fmt: skip
            proto.sign_protocol(session, gyn, user=users["dr.berger"], password=DEMO_PASSWORD,
                                render=lambda data: b"%PDF-1.4 test", at=at + dt.timedelta(minutes=30),
                                actor=actor_for(users["dr.berger"]))  # fmt: skip
            session.commit()
            clock.current = brust.starts_at + dt.timedelta(minutes=10)
            info = Forgery("", runtime.session_factory, brust.id, brust_case.id, gyn_case.id,
                           {k: u.id for k, u in users.items()})  # fmt: skip
        server = make_server("127.0.0.1", 0, create_app(runtime), threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="forgery-server", daemon=True)
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


def forge(page: Page, action: str, fields: dict[str, str | list[str]]) -> None:
    """Post a form the page does not offer, with the page's own CSRF token, as a browser would."""
    page.evaluate(
        """([action, fields]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            const add = (name, value) => {
                const input = document.createElement('input');
                input.type = 'hidden'; input.name = name; input.value = value; form.appendChild(input);
            };
            add('csrf_token', document.querySelector('input[name=csrf_token]').value);
            for (const [name, value] of Object.entries(fields)) {
                for (const v of [].concat(value)) add(name, v);
            }
            document.body.appendChild(form);
            form.submit();
        }""",
        [action, fields],
    )
    page.wait_for_load_state("domcontentloaded")


def _stored(f: Forgery) -> tuple[int, int, int]:
    with f.factory() as db:
        return (
            db.scalar(select(func.count(Attendance.id)).where(Attendance.session_id == f.brust)) or 0,
            db.scalar(select(func.count(Recommendation.id))) or 0,
            db.scalar(select(func.count(ProtocolVersion.id))) or 0,
        )


def test_the_eight_forged_requests_and_the_amendment_each_fail_with_a_german_message(page: Page, forgery: Forgery):
    f = forgery
    log_in(page, base=f.url, username="dr.krueger")  # Viszeralchirurgie: moderates Viszeral, no member of Brust or Gyn
    live = f"{f.url}/sessions/{f.brust}/live"
    before = _stored(f)
    assert before == (0, 1, 1)  # the Gyn session's recommendation and signed version 1
    page.goto(live)
    expect(page.get_by_role("button", name="Ich bin da")).to_have_count(0)  # no forms offered to him
    expect(page.get_by_role("button", name="Protokoll unterschreiben")).to_have_count(0)
    others = "Andere Personen checkt nur die Koordination oder die Moderation ein"
    guests = "Externe Gäste checkt nur die Koordination oder die Moderation der Konferenz ein."
    steps: list[tuple[str, dict[str, str | list[str]], str]] = [
        *[(f"/sessions/{f.brust}/attendance", {"user": str(f.users[name]), "mode": "in_person"}, others)
          for name in ("dr.berger", "dr.yilmaz", "dr.schmitz")],
        *[(f"/sessions/{f.brust}/attendance/external",
           {"name": name, "institution": "Praxis Erfunden", "discipline": discipline, "mode": "video"}, guests)
          for name, discipline in (("Dr. Erfunden Eins", "Operative Gynäkologie/Senologie"),
                                   ("Dr. Erfunden Zwei", "Internistische/gynäkologische Onkologie"))],
        (f"/sessions/{f.brust}/attendance/self", {"mode": "in_person"},
         "Selbst einchecken können nur Mitglieder dieser Konferenz."),
        (f"/cases/{f.brust_case}/recommendation",
         {"therapy_types": ["OP"], "text": "Brusterhaltende Operation.", "representation_board": "0"},
         "Empfehlungen erfasst nur die Koordination oder die Moderation dieser Konferenz."),
        (f"/sessions/{f.brust}/protocol/sign", {"password": DEMO_PASSWORD},
         "Unterschreiben und Nachträge kann nur die Moderation dieser Konferenz oder ihre Stellvertretung."),
    ]  # fmt: skip
    assert len(steps) == 8
    for number, (action, fields, text) in enumerate(steps, start=1):
        page.goto(live)
        forge(page, action, fields)
        expect(page.get_by_role("alert"), f"step {number}: {action}").to_contain_text(text)
        assert _stored(f) == before, f"step {number} stored something"
    # and amends a session he never attended (Gyn, signed by its moderator)
    amend = {"therapy_types": ["ST"], "text": "Bestrahlung statt Operation.", "representation_board": "0",
             "reason": "Nachträglich geändert", "password": DEMO_PASSWORD}  # fmt: skip
    page.goto(live)
    forge(page, f"/cases/{f.gyn_case}/recommendation/amend", amend)
    expect(page.get_by_role("alert")).to_contain_text("Unterschreiben und Nachträge kann nur die Moderation")
    expect(page.locator("body")).not_to_contain_text("Frage Gyn")  # no case data on the refusal
    assert _stored(f) == before
    # a deputy of the Gyn moderation who was not checked in cannot amend either
    page.get_by_role("button", name="Abmelden").click()
    log_in(page, base=f.url, username="dr.yilmaz")
    page.goto(f"{f.url}/cases/{f.gyn_case}/recommendation")
    forge(page, f"/cases/{f.gyn_case}/recommendation/amend", amend)
    expect(page.get_by_role("alert")).to_contain_text(
        "Unterschreiben kann nur, wer an dieser Sitzung teilgenommen hat und eingecheckt ist."
    )
    assert _stored(f) == before
