"""Benchmark (issue 11): the one-year evidence bundle of all nine boards and the QM dashboard of that year.

    .venv/bin/python benchmarks/qm_bundle.py --db sqlite
    .venv/bin/python benchmarks/qm_bundle.py --db postgresql     # needs PostgreSQL on 127.0.0.1:5432

Data: a migrated empty database, the demo's nine boards and users, then one year of activity (the demo's series
from 2026-01-05 up to the fixed clock, 2026-11-23) bulk-inserted by tests/qm/activity.py: cancellations,
undocumented sessions, attendance with stand-ins and early leavers, cases of every oBDS type, recommendations with
and without quorum, amendments, follow-ups with deviations, late registrations, signed protocol versions.
Targets: bundle < 60 s (goal 20 s), peak RSS < 500 MB, dashboard (figures as SVG) < 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
import uuid
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
from tumorboard.qm.charts import render_svg
from tumorboard.qm.jobs import make_bundle
from tumorboard.qm.period import Period, PeriodKind
from tumorboard.qm.services import build_dashboard

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def run(url: str, tmp: Path, max_cases: int) -> None:
    settings = Settings.from_env(
        {"TUMORBOARD_ENV": "test", "TUMORBOARD_SECRET_KEY": "q" * 48, "TUMORBOARD_DATABASE_URL": url,
         "TUMORBOARD_INSTANCE_PATH": str(tmp)}
    )  # fmt: skip
    engine = make_engine(url)
    upgrade(engine)
    rt = bootstrap(settings, engine=engine, clock=FixedClock(NOW))
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
    took = time.perf_counter() - started
    print(f"data: {len(boards)} boards, {n_sessions} past sessions, {n_cases} cases ({took:.1f} s)")
    period = Period(dt.date(2026, 1, 1), dt.date(2026, 12, 31), PeriodKind.YEAR)
    with rt.session_factory() as session:
        boards = list(session.scalars(select(Board).order_by(Board.name)))
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            data = build_dashboard(session, boards=boards, period=period, now=NOW)
            for figure in data.figures:
                render_svg(figure, title=figure.title)
            times.append(time.perf_counter() - t0)
        print(
            f"dashboard (all boards, year, 7 SVG figures): best {min(times):.2f} s, runs {[round(t, 2) for t in times]}"
        )
        t0 = time.perf_counter()
        body = make_bundle(session, boards=boards, period=period, now=NOW, templates=rt.templates, generated_by="bench")
        took = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bundle: {took:.1f} s, {len(body) / 1e6:.1f} MB, peak RSS of the process {peak:.0f} MB")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--max-cases", type=int, default=50, help="cases per held session: uniform 0..N")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        if args.db == "sqlite":
            run(f"sqlite:///{tmp / 'bench.sqlite'}", tmp, args.max_cases)
            return
        name = f"tumorboard_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(admin.url.set(database=name).render_as_string(hide_password=False), tmp, args.max_cases)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
