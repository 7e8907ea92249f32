"""The real thing for fault, load and log tests (and ``benchmarks/web_load.py``): a fresh database (an SQLite file,
or a new PostgreSQL database) migrated by ``tumorboard db upgrade`` with the demo loaded by ``tumorboard demo load``,
served by real gunicorn processes with ``tumorboard/web/gunicorn_conf.py``; a browser-like client with cookies; a
separate process that holds a database lock; ``wrk``.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from tumorboard.db import make_engine

ROOT = Path(__file__).resolve().parents[1]
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveDatabase:
    """A database of its own (not the test run's: the test fixtures hold a transaction open on that one)."""

    url: str
    tmp: Path
    admin_url: str | None = None
    name: str | None = None

    @classmethod
    @contextmanager
    def create(cls, tmp: Path, pg_admin_url: str | None) -> Iterator[LiveDatabase]:
        if not pg_admin_url:
            yield cls(url=f"sqlite:///{tmp / 'live.sqlite'}", tmp=tmp)
            return
        name = f"tumorboard_live_{uuid.uuid4().hex[:10]}"
        admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
            yield cls(url=url, tmp=tmp, admin_url=pg_admin_url, name=name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "TUMORBOARD_ENV": "development",
            "TUMORBOARD_INSTANCE_PATH": str(self.tmp),
            "TUMORBOARD_DATABASE_URL": self.url,
            "TUMORBOARD_SECRET_KEY": "l" * 48,
            "PYTHONUNBUFFERED": "1",
        }
        env.update(extra)
        return env

    def cli(
        self, *args: str, check: bool = True, stdin: str | None = None, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tumorboard", *args],
            env=self.env(**extra),
            cwd=ROOT,
            check=check,
            capture_output=True,
            text=True,
            timeout=300,
            input=stdin,
        )

    def prepare(self) -> None:
        self.cli("db", "upgrade")
        self.cli("demo", "load")

    def engine(self) -> Engine:
        return make_engine(self.url)  # on SQLite: WAL, as the application runs it

    def execute(self, *statements: str) -> None:
        eng = self.engine()
        try:
            with eng.begin() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        finally:
            eng.dispose()

    def scalar(self, statement: str, **params: object) -> object:
        eng = self.engine()
        try:
            with eng.connect() as conn:
                return conn.execute(text(statement), params).scalar()
        finally:
            eng.dispose()


@contextmanager
def hold_lock(
    db: LiveDatabase, seconds: float, tables: tuple[str, ...] = ("patient", "case_registration")
) -> Iterator[subprocess.Popen[str]]:
    """A separate process that holds the database's write lock (SQLite: ``BEGIN EXCLUSIVE``; PostgreSQL: an
    ``ACCESS EXCLUSIVE`` lock on ``tables``) for ``seconds``, or until the block ends if that is earlier; entered
    once the lock is held."""
    if db.is_sqlite:
        path = make_url(db.url).database
        script = (
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({path!r}, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            f"time.sleep({seconds})\n"
            "c.execute('ROLLBACK')\n"
        )
    else:
        dsn = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        quoted = ", ".join(f'"{t}"' for t in tables)
        script = (
            "import psycopg, time\n"
            f"c = psycopg.connect({dsn!r})\n"
            f"c.execute('LOCK TABLE {quoted} IN ACCESS EXCLUSIVE MODE')\n"
            "print('locked', flush=True)\n"
            f"time.sleep({seconds})\n"
            "c.rollback()\n"
        )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.terminate()  # at the latest when the block ends (its connection goes, and with it the lock)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@dataclass
class LiveServer:
    base: str
    log: Path
    proc: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def gunicorn(db: LiveDatabase, *, workers: int, log_name: str = "gunicorn.log", **env: str) -> Iterator[LiveServer]:
    """gunicorn as ``tumorboard run`` starts it (same config module), ``workers`` workers, stderr and the access
    log into ``log_name`` in the database's temporary folder."""
    port = free_port()
    log_path = db.tmp / log_name
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "python:tumorboard.web.gunicorn_conf",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--access-logfile",
                "-",
                "app:app",
            ],
            env=db.env(**env),
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        server = LiveServer(base=f"http://127.0.0.1:{port}", log=log_path, proc=proc)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{server.base}/login", timeout=5) as response:  # noqa: S310 - loopback
                        assert response.status == 200
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("gunicorn did not start:\n" + server.output()) from None
                    time.sleep(0.3)
            yield server
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str
    url: str


@dataclass
class Browser:
    """A client with a cookie jar; follows redirects like a browser (303 → GET)."""

    base: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def request(self, path: str, data: dict[str, str] | None = None, timeout: float = 60) -> Response:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with opener.open(self.base + path, data=body, timeout=timeout) as r:
                return Response(r.status, dict(r.headers.items()), r.read().decode(), r.url)
        except urllib.error.HTTPError as err:
            return Response(err.code, dict(err.headers.items()), err.read().decode(), err.url)

    def csrf(self, path: str) -> str:
        found = CSRF_RE.search(self.request(path).text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def login(self, username: str, password: str = "tumorboard-demo") -> None:  # noqa: S107
        response = self.request(
            "/login", {"csrf_token": self.csrf("/login"), "username": username, "password": password}
        )
        assert response.status == 200 and "/login" not in response.url, response.text[:500]

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def feed_path(self) -> str:
        """The user's calendar feed (a new token is made if there is none)."""
        page = self.request("/calendar").text
        if not re.search(r"/feeds/[^/\"<\s]+/all\.ics", page):
            found = CSRF_RE.search(page)
            assert found
            page = self.request("/calendar/renew", {"csrf_token": found.group(1)}).text
        match = re.search(r"(/feeds/[^/\"<\s]+/all\.ics)", page)
        assert match, "no feed link on /calendar"
        return match.group(1)


def registration(browser: Browser, board_short: str, **patient: str) -> dict[str, str]:
    """The registration form as a coordinator fills it in, for the board named ``board_short``."""
    page = browser.request("/cases/new").text
    options = re.search(r'<select[^>]*name="board"[^>]*>(.*?)</select>', page, re.S)
    assert options, "no board choice on /cases/new"
    board = re.search(rf'<option[^>]*value="(\d+)"[^>]*>[^<]*{re.escape(board_short)}', options.group(1))
    assert board, f"no board {board_short}"
    found = CSRF_RE.search(page)
    assert found
    data = {
        "csrf_token": found.group(1),
        "board": board.group(1),
        "session": "0",
        "family_name": "Großmann",
        "given_name": "Jürgen",
        "birth_date": "1961-04-12",
        "sex": "M",
        "patient_number": "KIS-777001",
        "referring_partner": "0",
        "partner_patient_id": "",
        "icd10_code": "C34.1",
        "icd10_text": "Adenokarzinom Oberlappen",
        "icdo_morphology": "8140/3",
        "tnm": "cT2 cN0 cM0",
        "ecog": "1",
        "conference_type": "praeth",
        "question": "Operation oder Radiochemotherapie?",
        "presenter": "0",
        "accession_number": "",
    }
    data.update(patient)
    return data


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


_WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status < 200 or (status > 299 and status ~= OK_304) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration, total,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def wrk(
    url: str,
    *,
    connections: int,
    seconds: int,
    threads: int = 2,
    headers: tuple[str, ...] = (),
    not_modified_ok: bool = False,
) -> WrkResult:
    """``wrk`` (Debian) against ``url``; every answer that is not 2xx counts as an error (wrk's own count leaves
    redirects out, and a redirect to the login page is a failure here) — but 304 Not Modified if ``not_modified_ok``
    (conditional requests)."""
    script = Path(os.environ.get("TMPDIR", "/tmp")) / f"wrk-{uuid.uuid4().hex}.lua"
    script.write_text(f"OK_304 = {304 if not_modified_ok else -1}\n" + _WRK_SCRIPT)
    try:
        args = [
            "wrk",
            "-t",
            str(min(threads, connections)),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
        ]
        for header in headers:
            args += ["-H", header]
        out = subprocess.run([*args, "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    finally:
        script.unlink()
    match = re.search(r"^RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", out, re.M)
    assert match, out
    requests, duration_us, bad, sock, p50, p99 = (int(g) for g in match.groups())
    return WrkResult(requests, duration_us / 1e6, bad, sock, p50 / 1000, p99 / 1000)


@dataclass(frozen=True)
class DemoInstance:
    """An instance folder — SQLite database and image store — as ``tumorboard db upgrade`` and ``tumorboard demo
    load`` leave it (what ``make run`` starts on). Made once per run: the demo load renders ten protocol PDFs and
    checks ten signatures (seconds of CPU), and the tests that start ``tumorboard run`` or ``imaging listen`` on the
    demo each copy the folder instead."""

    path: Path

    def copy_to(self, instance: Path) -> None:
        shutil.copytree(self.path, instance, dirs_exist_ok=True)


@pytest.fixture(scope="session")
def demo_instance(tmp_path_factory: pytest.TempPathFactory) -> DemoInstance:
    path = tmp_path_factory.mktemp("demo-instance")
    env = {
        **os.environ,
        "TUMORBOARD_ENV": "development",
        "TUMORBOARD_INSTANCE_PATH": str(path),
        "TUMORBOARD_SECRET_KEY": "d" * 48,  # nothing stored depends on it
    }
    env.pop("TUMORBOARD_DATABASE_URL", None)  # the instance's own SQLite file, as in `make run`
    for command in (("db", "upgrade"), ("demo", "load")):
        cli = [sys.executable, "-m", "tumorboard", *command]
        subprocess.run(cli, env=env, cwd=ROOT, check=True, capture_output=True, timeout=300)
    return DemoInstance(path)


@pytest.fixture(scope="session")
def live_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDatabase]:
    """A fresh database with the demo loaded, for tests with real processes: SQLite in the first run of
    ``make test``, PostgreSQL in its second. Shared by the session (the demo load takes seconds)."""
    with LiveDatabase.create(tmp_path_factory.mktemp("live"), os.environ.get("TUMORBOARD_TEST_PG_ADMIN_URL")) as db:
        if db.is_sqlite:  # the same commands' result, made once per run for the tests that start `tumorboard run`
            demo: DemoInstance = request.getfixturevalue("demo_instance")
            demo.copy_to(db.tmp)
            for path in db.tmp.glob("tumorboard.sqlite*"):  # with its -wal file, should one be left
                path.rename(db.tmp / path.name.replace("tumorboard.sqlite", "live.sqlite"))
        else:
            db.prepare()
        yield db
