"""Benchmark (issue 3): the case list page and the agenda PDF of a 60-case session in a database of 50,000 cases
over 500 sessions, through the real Flask app (test client: routing, login session, CSRF, templates, SQLAlchemy)
on SQLite and on PostgreSQL.

    make bench-caselist                      # both databases (PostgreSQL if it answers on 127.0.0.1:5432)
    .venv/bin/python benchmarks/caselist.py --db sqlite --runs 30

The data is synthetic: the demo's nine boards and users, sessions generated over about 56 weeks (about 500), and
bulk-inserted patients and cases (the 60-case session plus ~100 per other session). PostgreSQL runs in a database
the benchmark creates and drops. Targets: case list < 100 ms median, agenda PDF < 2 s median (the live draft,
rendered on demand), frozen agenda PDF < 100 ms median (kept at the freeze, issue 12; the freeze time with its one
rendering is recorded next to it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, insert, select, text
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tumorboard.auth.actors import CLI, SCHEDULER
from tumorboard.auth.models import Role, User
from tumorboard.bootstrap import bootstrap
from tumorboard.cases.agenda import freeze_agenda
from tumorboard.cases.models import Case, CaseStatus, ConferenceType
from tumorboard.clock import BERLIN, FixedClock
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import ConferenceSession, SessionStatus
from tumorboard.config import Settings
from tumorboard.db import make_engine
from tumorboard.demo.data import load_demo
from tumorboard.migrate import upgrade
from tumorboard.patients.models import Patient, Sex
from tumorboard.patients.names import name_key

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # Monday 09:00 Berlin
TOTAL_CASES = 50_000
TOTAL_SESSIONS = 500
TARGET_CASES = 60
PATIENTS = 30_000
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

FAMILY = ["Müller", "Schröder", "Weißenfels", "Özdemir", "Brüggemann", "Jäger", "Kowalski", "Lüdtke", "Nguyen"]
GIVEN = ["Jürgen", "Käthe", "Ayşe", "Björn", "Zoë", "Anna", "Lukas", "Sören", "Małgorzata", "Grete", "Ömer"]
ICD = [("C18.7", "Bösartige Neubildung: Colon sigmoideum"), ("C50.4 L", "Bösartige Neubildung: Oberer äußerer "
       "Quadrant der Brustdrüse"), ("C34.1", "Bösartige Neubildung: Oberlappen (-Bronchus)"),
       ("C61", "Bösartige Neubildung der Prostata"), ("C43.5", "Bösartiges Melanom des Rumpfes")]  # fmt: skip
QUESTIONS = [
    "Neoadjuvante Therapie vor Resektion?",
    "Weiteres Vorgehen nach R1-Resektion: Nachresektion oder adjuvante Radiatio? Bitte auch Stellungnahme zur "
    "Systemtherapie bei Lebermetastasen und zur Studieneinbindung.",
    "Therapieempfehlung bei Progress unter Erstlinie.",
]


def build(engine: Engine, rng: random.Random, instance: Path, previews: int) -> tuple[int, dict[str, Any]]:
    """Fill an empty, migrated database; returns the id of the 60-case session and the data's figures. With
    ``previews``, each case of that session gets a complete study with that many series and their previews."""
    factory = bootstrap(_settings(engine.url.render_as_string(hide_password=False), instance),
                        engine=engine).session_factory  # fmt: skip
    with factory() as session:
        load_demo(session, at=NOW, actor=CLI, horizon_weeks=4)
        today = NOW.astimezone(BERLIN).date()
        # 500+ sessions: the nine boards' weekly series from 14 weeks back to 44 weeks ahead
        conf.generate_sessions(
            session, start=today - dt.timedelta(weeks=14), end=today + dt.timedelta(weeks=44), at=NOW, actor=CLI
        )
        session.commit()
        sessions = session.scalars(
            select(ConferenceSession)
            .where(ConferenceSession.status == SessionStatus.PLANNED)
            .order_by(ConferenceSession.starts_at)
        ).all()[:TOTAL_SESSIONS]
        assert len(sessions) == TOTAL_SESSIONS, len(sessions)
        # the measured session: three weeks ahead (the demo's own cases are on the next two sessions)
        target = next(cs for cs in sessions if cs.starts_at > NOW + dt.timedelta(weeks=3))
        physicians = session.scalars(select(User.id).where(User.role == Role.PHYSICIAN)).all()
        existing = {
            sid: n
            for sid, n in session.execute(select(Case.session_id, func.count(Case.id)).group_by(Case.session_id)).all()
        }
        patients = [
            {
                "patient_number": f"BENCH-{i:06d}",
                "family_name": (family := rng.choice(FAMILY) + ("" if i % 3 else "-" + rng.choice(FAMILY))),
                "given_name": (given := rng.choice(GIVEN)),
                "name_key": name_key(family, given),
                "birth_date": dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 30_000)),
                "sex": rng.choice([Sex.FEMALE, Sex.MALE]),
                "created_at": NOW,
            }
            for i in range(PATIENTS)
        ]
        for chunk in range(0, len(patients), 5000):
            session.execute(insert(Patient), patients[chunk : chunk + 5000])
        patient_ids = session.scalars(select(Patient.id).where(Patient.patient_number.like("BENCH-%"))).all()
        already = sum(existing.values())
        others = [cs for cs in sessions if cs.id != target.id]
        remaining = TOTAL_CASES - already - (TARGET_CASES - existing.get(target.id, 0))
        per_session = {cs.id: remaining // len(others) for cs in others}
        for cs in others[: remaining % len(others)]:
            per_session[cs.id] += 1
        per_session[target.id] = TARGET_CASES - existing.get(target.id, 0)
        by_id = {cs.id: cs for cs in sessions}
        rows: list[dict[str, Any]] = []
        for sid, n in per_session.items():
            cs = by_id[sid]
            for k in range(n):
                code, icd_text = rng.choice(ICD)
                rows.append(
                    {
                        "patient_id": rng.choice(patient_ids),
                        "board_id": cs.board_id,
                        "session_id": sid,
                        "position": existing.get(sid, 0) + k + 1,
                        "icd10_code": code,
                        "icd10_text": icd_text,
                        "tnm": "cT3 cN1 cM0",
                        "ecog": rng.randrange(0, 3),
                        "conference_type": rng.choice(list(ConferenceType)),
                        "question": rng.choice(QUESTIONS),
                        "registered_by_id": rng.choice(physicians),
                        "presenter_id": rng.choice(physicians),
                        "imaging_expected": k % 4 == 0,
                        "status": CaseStatus.DISCUSSED if cs.starts_at < NOW else CaseStatus.REGISTERED,
                        "is_late": k % 25 == 24,
                        "registered_at": NOW - dt.timedelta(days=1),
                        "updated_at": NOW - dt.timedelta(days=1),
                    }
                )
            if len(rows) >= 10_000:
                session.execute(insert(Case), rows)
                rows = []
        if rows:
            session.execute(insert(Case), rows)
        session.commit()
        if previews:
            add_previews(session, target.id, previews, instance / "imaging" / "previews", rng)
            session.commit()
        figures = {
            "sessions": session.scalar(select(func.count(ConferenceSession.id))),
            "sessions_with_cases": len(per_session),
            "cases": session.scalar(select(func.count(Case.id))),
            "patients": session.scalar(select(func.count(Patient.id))),
            "target_cases": session.scalar(select(func.count(Case.id)).where(Case.session_id == target.id)),
        }
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    return target.id, figures


def preview_png(shift: int) -> bytes:
    """A 256 px preview like the job renders from a real CT (windowed, with noise; compresses like one)."""
    import io

    import numpy as np
    from PIL import Image

    from tumorboard.imaging.demo import phantom

    noise = np.random.default_rng(shift).normal(0, 12, (256, 256))
    hu = np.kron(phantom(shift % 15, 15).astype(float) - 1024, np.ones((2, 2)))
    image = np.clip((hu + 160) / 400 * 255 + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(image, "L").save(out, format="PNG")
    return out.getvalue()


def add_previews(session: Any, session_id: int, per_case: int, folder: Path, rng: random.Random) -> None:
    """A complete, assigned study per case of the session, ``per_case`` CT series each with its preview file."""
    from tumorboard.imaging.models import ImagingSeries, ImagingStudy, MatchMethod, StudyState
    from tumorboard.partners.models import Partner

    folder.mkdir(parents=True, exist_ok=True)
    partner_id = session.scalars(select(Partner.id).order_by(Partner.id)).first()
    for case in session.scalars(select(Case).where(Case.session_id == session_id)):
        study = ImagingStudy(
            study_uid=f"2.25.{uuid.uuid4().int}", partner_id=partner_id, state=StudyState.COMPLETE,
            instance_count=per_case * 120, first_received_at=NOW, last_received_at=NOW, completed_at=NOW,
            case_id=case.id, match_method=MatchMethod.PATIENT_NUMBER, suggestions=[],
            study_description="CT Thorax/Abdomen mit KM", study_date=NOW.date(),
        )  # fmt: skip
        session.add(study)
        session.flush()
        for n in range(per_case):
            series = ImagingSeries(
                study_id=study.id, series_uid=f"2.25.{uuid.uuid4().int}", modality="CT", series_number=n + 1,
                series_description=f"Serie {n + 1}", body_part="CHEST", instance_count=120,
                preview_instance_count=120,
            )  # fmt: skip
            session.add(series)
            session.flush()
            series.preview_name = f"{series.id}.png"
            (folder / series.preview_name).write_bytes(preview_png(rng.randrange(1_000_000)))


def _settings(url: str, instance: Path) -> Settings:
    return Settings.from_env(
        {
            "TUMORBOARD_ENV": "test",
            "TUMORBOARD_INSTANCE_PATH": str(instance),
            "TUMORBOARD_DATABASE_URL": url,
            "TUMORBOARD_SECRET_KEY": "b" * 48,
            "TUMORBOARD_LOG_LEVEL": "WARNING",
        }
    )


def measure(
    engine: Engine, session_id: int, runs: int, pdf_runs: int, instance: Path, profile: bool = False
) -> dict[str, Any]:
    from tumorboard.web import create_app

    url = engine.url.render_as_string(hide_password=False)
    runtime = bootstrap(_settings(url, instance), engine=engine, clock=FixedClock(NOW))
    app = create_app(runtime)
    client = app.test_client()
    page = client.get("/login")
    token = CSRF_RE.search(page.text)
    assert token, "login page without CSRF token"
    response = client.post(
        "/login", data={"csrf_token": token.group(1), "username": "koordination", "password": "tumorboard-demo"}
    )
    assert response.status_code == 302, response.status_code

    cpu: list[float] = []

    def timed(path: str) -> tuple[float, bytes]:
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        elapsed = time.perf_counter() - start
        cpu.append(time.process_time() - start_cpu)  # this process only: the app, not the database server
        assert response.status_code == 200, (path, response.status_code)
        return elapsed, response.data

    for _ in range(5):  # warm-up: template compilation, imports, connection pool
        _, body = timed(f"/sessions/{session_id}")
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    timed(f"/sessions/{session_id}")
    event.remove(engine, "before_cursor_execute", count)
    rows = body.count(b'data-case-id="') or body.count(b"<tr")
    cpu.clear()
    page_times = [timed(f"/sessions/{session_id}")[0] for _ in range(runs)]
    page_cpu = statistics.median(cpu)
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(10):
            timed(f"/sessions/{session_id}")
        profiler.disable()
        print(f"--- profile of 10 case list requests ({engine.dialect.name}) ---", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    timed(f"/sessions/{session_id}/agenda.pdf")
    pdf_times = []
    for _ in range(pdf_runs):
        elapsed, pdf = timed(f"/sessions/{session_id}/agenda.pdf")
        pdf_times.append(elapsed)
    # Issue 12: freezing renders the version's PDF once (in the freezing transaction); downloads serve the bytes.
    with runtime.session_factory() as session:
        cs = session.get_one(ConferenceSession, session_id)
        started = time.perf_counter()
        assert freeze_agenda(session, cs, at=NOW, actor=SCHEDULER) is not None
        session.commit()
        freeze_s = time.perf_counter() - started
    _, frozen = timed(f"/sessions/{session_id}/agenda.pdf")
    frozen_times = [timed(f"/sessions/{session_id}/agenda.pdf")[0] for _ in range(runs)]
    return {
        "page_median_ms": round(statistics.median(page_times) * 1000, 1),
        "page_p90_ms": round(sorted(page_times)[int(0.9 * (len(page_times) - 1))] * 1000, 1),
        "page_cpu_median_ms": round(page_cpu * 1000, 1),
        "page_queries": len(statements),
        "page_bytes": len(body),
        "page_rows_marker": rows,
        "pdf_median_s": round(statistics.median(pdf_times), 2),
        "pdf_bytes": len(pdf),
        "freeze_with_pdf_s": round(freeze_s, 2),
        "frozen_pdf_median_ms": round(statistics.median(frozen_times) * 1000, 1),
        "frozen_pdf_p90_ms": round(sorted(frozen_times)[int(0.9 * (len(frozen_times) - 1))] * 1000, 1),
        "frozen_pdf_bytes": len(frozen),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def run(db: str, runs: int, pdf_runs: int, seed: int, profile: bool = False, previews: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by seed
    instance = Path(tempfile.mkdtemp(prefix="tumorboard-bench-instance-"))
    if db == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix="tumorboard-bench-"))
        engine = make_engine(f"sqlite:///{tmp / 'bench.sqlite'}")
        drop = None
    else:
        name = f"tumorboard_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    try:
        upgrade(engine)
        started = time.perf_counter()
        session_id, figures = build(engine, rng, instance, previews)
        build_s = time.perf_counter() - started
        result = {
            "db": db,
            **figures,
            "build_s": round(build_s, 1),
            "previews_per_case": previews,
            **measure(engine, session_id, runs, pdf_runs, instance, profile),
        }
    finally:
        engine.dispose()
        if drop is not None:
            drop()
        shutil.rmtree(instance, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=30, help="measured page requests (median)")
    parser.add_argument("--pdf-runs", type=int, default=5, help="measured agenda PDF requests (median)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the case list page to stderr")
    parser.add_argument("--previews", type=int, default=0, help="series previews per case of the measured session")
    args = parser.parse_args()
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"# {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}", file=sys.stderr)
    failed = False
    for db in dbs:
        if db == "postgresql":
            import socket

            try:
                socket.create_connection(("127.0.0.1", 5432), 2).close()
            except OSError:
                print("PostgreSQL not reachable on 127.0.0.1:5432: skipped", file=sys.stderr)
                continue
        result = run(db, args.runs, args.pdf_runs, args.seed, args.profile, args.previews)
        ok = result["page_median_ms"] < 100 and result["pdf_median_s"] < 2 and result["frozen_pdf_median_ms"] < 100
        failed |= not ok
        print(json.dumps({**result, "within_targets": ok}, ensure_ascii=False))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
