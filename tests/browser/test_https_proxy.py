"""Behind TLS: Debian's nginx terminates HTTPS with a self-signed certificate on 127.0.0.1 and proxies to a real
gunicorn in production mode (secure cookies, HSTS, Flask-WTF's strict Referer check on HTTPS). Chromium logs in,
registers a case, records a recommendation and signs the protocol — every form posts through the proxy.

The app runs in its own processes with the system clock, so the data is put in place relative to now: a board
whose extra session starts in ten minutes (check-in opens two hours before).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.cases.factories import register
from tests.factories import make_board
from tumorboard.access.models import BoardRole
from tumorboard.access.services import set_member
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.bootstrap import bootstrap
from tumorboard.clock import BERLIN
from tumorboard.conferences.models import QuorumKind
from tumorboard.conferences.quorum import QuorumSpec
from tumorboard.conferences.services import add_extra_session
from tumorboard.config import CHECKOUT, Settings
from tumorboard.demo.data import DEMO_PASSWORD, load_demo
from tumorboard.migrate import upgrade

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx (Debian nginx-light) is not installed"),
]

NGINX_CONF = """\
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{}}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  client_max_body_size 25m;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    location / {{
      proxy_pass http://127.0.0.1:{app};
      # $http_host keeps the port: Flask-WTF compares the Referer's origin with the Host it sees
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}: {log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}: {log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass(frozen=True)
class Proxied:
    url: str
    session_id: int
    folder: Path


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    d = tmp_path_factory.mktemp("tls")
    (d / "tmp").mkdir()
    url = f"sqlite:///{d / 'instance' / 'tumorboard.sqlite'}"
    env = {
        "TUMORBOARD_ENV": "production",
        "TUMORBOARD_SECRET_KEY": "p" * 48,
        "TUMORBOARD_DATABASE_URL": url,
        "TUMORBOARD_INSTANCE_PATH": str(d / "instance"),
        "TUMORBOARD_PROXY_HOPS": "1",
    }
    runtime = bootstrap(Settings.from_env(env))  # creates the private instance folder and SQLite file
    now = dt.datetime.now(dt.UTC)
    try:
        upgrade(runtime.engine)
        with runtime.session_factory() as session:
            assert load_demo(session, at=now, actor=CLI, horizon_weeks=4)
            board = make_board(session, now, name="TLS-Testkonferenz", short_name="TLS",
                               quorum=[QuorumSpec(QuorumKind.ALL_OF, ("Radiologie",))])  # fmt: skip
            # issue 13: a protocol is signed only once its session has begun, so the session started 5 minutes ago
            # (planned and registered an hour earlier)
            before = now - dt.timedelta(hours=1)
            start = (now - dt.timedelta(minutes=5)).astimezone(BERLIN).replace(second=0, microsecond=0)
            cs = add_extra_session(session, board, day=start.date(), start=start.time(), at=before, actor=CLI)
            coordinator = session.scalar(select(User).where(User.username == "koordination"))
            berger = session.scalar(select(User).where(User.username == "dr.berger"))
            assert coordinator is not None and berger is not None
            # issue 10: she signs as the board's moderator, checked in herself
            set_member(session, board, berger, BoardRole.MODERATOR, at=now, actor=CLI)
            register(session, board, at=before, by=coordinator, target=cs, question="Resektion oder Bestrahlung?")
            session.commit()
            session_id = cs.id
    finally:
        runtime.engine.dispose()

    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", d / "key.pem", "-out", d / "cert.pem"],
        check=True, capture_output=True,
    )  # fmt: skip
    app_port, tls_port = _free_port(), _free_port()
    (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=tls_port, app=app_port))
    gunicorn_log = d / "gunicorn.log"
    with gunicorn_log.open("wb") as out:
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:tumorboard.web.gunicorn_conf", "-b",
             f"127.0.0.1:{app_port}", "-w", "2", "app:app"],
            cwd=CHECKOUT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_port(app_port, gunicorn, gunicorn_log)
        nginx = subprocess.Popen(
            ["nginx", "-c", str(d / "nginx.conf"), "-p", str(d), "-g", "daemon off; user root;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_port(tls_port, nginx, d / "error.log")
            yield Proxied(f"https://127.0.0.1:{tls_port}", session_id, d)
        finally:
            _stop(nginx)
    finally:
        _stop(gunicorn)


def test_headers_through_the_proxy(proxied: Proxied) -> None:
    import ssl

    context = ssl.create_default_context(cafile=str(proxied.folder / "cert.pem"))
    with urllib.request.urlopen(f"{proxied.url}/login", context=context) as response:  # noqa: S310 - our own https
        assert response.status == 200
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert response.headers["Referrer-Policy"] == "same-origin"
        cookie = response.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie


def test_login_register_and_sign_over_https(browser: Browser, proxied: Proxied, tmp_path: Path) -> None:
    context = browser.new_context(
        base_url=proxied.url, ignore_https_errors=True, locale="de-DE", timezone_id="Europe/Berlin"
    )
    page: Page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_label("Benutzername").fill("dr.berger")
        page.get_by_label("Passwort").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        expect(page.get_by_role("heading", name="Konferenzen", level=1)).to_be_visible()
        assert page.url.startswith("https://")

        page.get_by_role("link", name="Fall anmelden").first.click()
        form = page.locator("form.register")
        form.locator("#board").select_option(label="Lungenkrebszentrum")
        form.locator("#family_name").fill("Österreicher-Weiß")
        form.locator("#given_name").fill("Jürgen")
        form.locator("#birth_date").fill("1957-08-21")
        form.locator("#sex").select_option(label="männlich")
        form.locator("#patient_number").fill("KIS-TLS-1")
        form.locator("#icd10_code").fill("C34.1")
        form.locator("#icd10_text").fill("Adenokarzinom des Oberlappens")
        form.locator("#question").fill("Lobektomie oder stereotaktische Bestrahlung?")
        form.get_by_role("button", name="Fall anmelden").click()
        expect(page.get_by_role("status")).to_contain_text("Fall angemeldet für Lunge")

        page.goto(f"/sessions/{proxied.session_id}/live")
        page.get_by_role("button", name="Ich bin da").click()  # self check-in (issue 10)
        expect(page.get_by_role("status")).to_contain_text("Sie sind eingecheckt.")

        page.get_by_role("link", name="Empfehlung erfassen (Fall 1)").click()
        page.locator("#rec-type-OP").check()
        page.get_by_label("Empfehlung", exact=True).fill("Lobektomie mit Lymphadenektomie")
        page.get_by_role("button", name="Empfehlung speichern").click()
        expect(page.get_by_role("status")).to_contain_text("Empfehlung gespeichert.")

        page.goto(f"/sessions/{proxied.session_id}/live")
        page.get_by_label("Passwort zur Bestätigung").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Protokoll unterschreiben").click()
        expect(page.get_by_role("status")).to_contain_text("Protokoll unterschrieben (Version 1).")
        page.screenshot(path=tmp_path / "signed-over-https.png", full_page=True)
    finally:
        context.close()
    # every request went through nginx, over TLS, from Chromium
    access = (proxied.folder / "access.log").read_text()
    assert f"POST /sessions/{proxied.session_id}/protocol/sign" in access and "POST /cases/new" in access
