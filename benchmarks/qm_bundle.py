"""Benchmark (issue 11): the one-year evidence bundle of all nine boards and the QM dashboard of that year.

    make bench-qm      # = .venv/bin/python benchmarks/qm_bundle.py --db both
    .venv/bin/python benchmarks/qm_bundle.py --db sqlite|postgresql [--runs N] [--profile FILE]

Data: a migrated empty database, the demo's nine boards and users, then one year of activity (the demo's series
from 2026-01-05 up to the fixed clock, 2026-11-23) bulk-inserted by tests/qm/activity.py: cancellations,
undocumented sessions, attendance with stand-ins and early leavers, cases of every oBDS type, recommendations with
and without quorum, amendments, follow-ups with deviations, late registrations, signed protocol versions.
The measuring runs in a fresh child process, so its peak RSS is that of the dashboard and the bundle, not of the
data generator. Targets: bundle < 60 s (goal 20 s), peak RSS < 500 MB, dashboard (figures as SVG) < 1 s median;
exit code 1 if one is missed.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.qm.activity import build_activity
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.bootstrap import bootstrap
from tumorboard.cases.models import Case
from tumorboard.clock import FixedClock
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.config import Settings
from tumorboard.db import make_engine
from tumorboard.demo.data import load_demo
from tumorboard.migrate import upgrade
from tumorboard.protocol.models import ProtocolVersion
from tumorboard.qm.charts import render_svg
from tumorboard.qm.jobs import make_bundle
from tumorboard.qm.period import Period, PeriodKind
from tumorboard.qm.services import ChartKind, build_dashboard

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def settings_for(url: str, tmp: Path) -> Settings:
    return Settings.from_env(
        {"TUMORBOARD_ENV": "test", "TUMORBOARD_SECRET_KEY": "q" * 48, "TUMORBOARD_DATABASE_URL": url,
         "TUMORBOARD_INSTANCE_PATH": str(tmp)}
    )  # fmt: skip


def load(url: str, tmp: Path, max_cases: int) -> None:
    """Migrate and fill the database (this process; its memory does not count)."""
    engine = make_engine(url)
    upgrade(engine)
    rt = bootstrap(settings_for(url, tmp), engine=engine, clock=FixedClock(NOW))
    started = time.perf_counter()
    with rt.session_factory() as session:
        load_demo(session, at=NOW, actor=CLI, horizon_weeks=4)
        boards = list(session.scalars(select(Board).order_by(Board.name)))
        clerk = session.scalars(select(User).where(User.username == "koordination")).one()
        build_activity(
            session, boards, first=dt.date(2026, 1, 1), last=dt.date(2026, 11, 22), clerk=clerk, at=NOW,
            max_cases=max_cases,
        )  # fmt: skip
        session.commit()
        n_sessions = session.scalar(
            select(func.count()).select_from(ConferenceSession).where(ConferenceSession.starts_at < NOW)
        )
        n_cases = session.scalar(select(func.count()).select_from(Case))
        n_versions = session.scalar(select(func.count()).select_from(ProtocolVersion))
    took = time.perf_counter() - started
    print(
        f"data: {len(boards)} boards, {n_sessions} past sessions, {n_cases} cases, {n_versions} signed protocol"
        f" versions ({took:.1f} s)",
        flush=True,
    )
    engine.dispose()


def measure(url: str, tmp: Path, runs: int, profile: Path | None) -> dict[str, float]:
    """The dashboard (``runs`` times) and one bundle, in a fresh process (``--measure``): its peak RSS is the
    bundle's and the dashboard's, not the data generator's."""
    engine = make_engine(url)
    rt = bootstrap(settings_for(url, tmp), engine=engine, clock=FixedClock(NOW))
    period = Period(dt.date(2026, 1, 1), dt.date(2026, 12, 31), PeriodKind.YEAR)
    with rt.session_factory() as session:
        boards = list(session.scalars(select(Board).order_by(Board.name)))
        times, cpu_times = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            c0 = time.process_time()
            data = build_dashboard(session, boards=boards, period=period, now=NOW)
            for figure in data.figures:
                if figure.chart is not ChartKind.TABLE:
                    render_svg(figure, title=figure.title)
            times.append(time.perf_counter() - t0)
            cpu_times.append(time.process_time() - c0)
        session.rollback()
        print(
            f"dashboard (all boards, year, 9 figures of which 7 as SVG): median {statistics.median(times):.2f} s,"
            f" runs {[round(t, 2) for t in times]}; CPU median {statistics.median(cpu_times):.2f} s;"
            f" load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        profiler = cProfile.Profile() if profile else None
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        if profiler:
            profiler.enable()
        written = make_bundle(
            session, boards=boards, period=period, now=NOW, templates=rt.templates, generated_by="bench",
            target=tmp / "bundle.zip",
        )  # fmt: skip
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        took = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with zipfile.ZipFile(tmp / "bundle.zip") as archive:
        entries = len(archive.namelist())
    print(
        f"bundle: {took:.1f} s wall, {cpu:.1f} s CPU, {written.size / 1e6:.1f} MB, {entries} files;"
        f" peak RSS of the measuring process {peak:.0f} MB; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    engine.dispose()
    return {
        "dashboard": statistics.median(times), "dashboard_cpu": statistics.median(cpu_times), "bundle": took,
        "bundle_cpu": cpu, "rss": peak,
    }  # fmt: skip


def run(url: str, tmp: Path, args: argparse.Namespace) -> bool:
    load(url, tmp, args.max_cases)
    command = [sys.executable, __file__, "--measure", url, "--tmp", str(tmp), "--runs", str(args.runs)]
    if args.profile:
        command += ["--profile", str(args.profile)]
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    print(out.stdout, end="", flush=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    ok = figures["bundle"] < 60 and figures["rss"] < 500 and figures["dashboard"] < 1
    print(f"targets (bundle < 60 s, peak RSS < 500 MB, dashboard < 1 s): {'met' if ok else 'MISSED'}", flush=True)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--max-cases", type=int, default=50, help="cases per held session: uniform 0..N")
    parser.add_argument("--runs", type=int, default=5, help="dashboard runs (median)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the bundle to this file")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        figures = measure(args.measure, args.tmp, args.runs, args.profile)
        print(json.dumps(figures))
        return
    ok = True
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        print(f"--- {db} (load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs)", flush=True)
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            if db == "sqlite":
                ok &= run(f"sqlite:///{tmp / 'bench.sqlite'}", tmp, args)
                continue
            name = f"tumorboard_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                ok &= run(admin.url.set(database=name).render_as_string(hide_password=False), tmp, args)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
