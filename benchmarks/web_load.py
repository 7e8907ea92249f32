"""Benchmark (issue 16): everyday web load. Real gunicorn with 4 workers (tumorboard/web/gunicorn_conf.py, as
``tumorboard run`` starts it) on a fresh database with the demo loaded; ``wrk`` (Debian) with 32 connections for 30 s
on a case page (signed in as the coordinator: the session cookie goes with ``-H``; every view writes an access
event), the session page and the calendar feed — once as a first download, once conditional as calendar clients
ask again (If-None-Match with its ETag: 304 is the right answer there). Every other answer that is not 2xx counts as
an error. SQLite, then
PostgreSQL (a database the benchmark creates and drops, if PostgreSQL answers).

    make bench-web
    .venv/bin/python benchmarks/web_load.py --db sqlite --seconds 10 --connections 16

Goal: 0 errors, p99 under 100 ms. The machine may be shared: ``uptime`` is printed before and after each database.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.live import Browser, LiveDatabase, gunicorn, wrk

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _pg_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), 2).close()
    except OSError:
        return False
    return True


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def run(db_kind: str, *, connections: int, seconds: int, workers: int) -> list[str]:
    rows: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-web-") as tmp,
        LiveDatabase.create(Path(tmp), PG_ADMIN_URL if db_kind == "postgresql" else None) as db,
    ):
        db.prepare()
        case_id = db.scalar("SELECT min(id) FROM case_registration")
        session_id = db.scalar("SELECT session_id FROM case_registration ORDER BY id LIMIT 1")
        with gunicorn(db, workers=workers) as server:
            browser = Browser(server.base)
            browser.login("koordination")
            feed = browser.feed_path()
            etag = browser.request(feed).headers["ETag"]
            paths = {
                f"case page /cases/{case_id}": (f"/cases/{case_id}", ()),
                f"session page /sessions/{session_id}": (f"/sessions/{session_id}", ()),
                "calendar feed /feeds/…/all.ics": (feed, ()),
                # What a calendar client sends once it has the feed: its ETag back; answered 304 without a body.
                "calendar feed, If-None-Match (304)": (feed, (f"If-None-Match: {etag}",)),
            }
            cookie = f"Cookie: {browser.cookie_header()}"
            print(f"{db_kind}: before: {_uptime()}", flush=True)
            for name, (path, extra) in paths.items():
                assert browser.request(path).status == 200, name
                # One connection first: what one request costs on this machine, without queueing.
                for conns, secs in ((1, min(5, seconds)), (connections, seconds)):
                    r = wrk(
                        server.base + path,
                        connections=conns,
                        seconds=secs,
                        headers=(cookie, *extra),
                        not_modified_ok=bool(extra),
                    )
                    row = (
                        f"| {db_kind} | {name} | {conns} | {r.requests} | {r.per_second:.0f} | {r.p50_ms:.1f} "
                        f"| {r.p99_ms:.1f} | {r.non_2xx} | {r.socket_errors} |"
                    )
                    print(row, flush=True)
                    rows.append(row)
            print(f"{db_kind}: after: {_uptime()}", flush=True)
            log = server.output()
            print(f"{db_kind}: 'database is locked' in the gunicorn log: {log.count('database is locked')} times")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in kinds and not _pg_answers():
        print("PostgreSQL does not answer on 127.0.0.1:5432: SQLite only")
        kinds.remove("postgresql")
    print(f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"wrk: {args.connections} connections, {args.seconds} s per page; gunicorn: {args.workers} workers (sync)")
    rows: list[str] = []
    for kind in kinds:
        rows += run(kind, connections=args.connections, seconds=args.seconds, workers=args.workers)
    print("\n| database | page | connections | requests | req/s | p50 ms | p99 ms | non-2xx | socket errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
