from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from tumorboard.conferences.jobs import generate_upcoming_sessions
from tumorboard.conferences.models import ConferenceSession
from tumorboard.scheduler import JOBS, build_scheduler


def test_job_table_has_stable_unique_ids():
    ids = [job.id for job in JOBS]
    assert len(ids) == len(set(ids)) and "conferences.generate_sessions" in ids


def test_scheduler_options(runtime):
    scheduler = build_scheduler(runtime)
    job = next(j for j in scheduler.get_jobs() if j.id == "conferences.generate_sessions")
    assert job.coalesce is True and job.max_instances == 1


def test_generate_job_is_idempotent(runtime, demo):
    count = lambda: demo.scalar(select(func.count(ConferenceSession.id)))  # noqa: E731
    before = count()
    assert generate_upcoming_sessions(runtime) == 0  # the demo already generated 12 weeks
    runtime.clock.advance(dt.timedelta(weeks=1))
    assert generate_upcoming_sessions(runtime) == 9  # one more week, nine boards
    assert generate_upcoming_sessions(runtime) == 0
    assert count() == before + 9


def test_apscheduler_reports_only_warnings_and_errors():
    """A job runs every 10 s: APScheduler's two INFO lines per run would bury everything else in `make run`'s
    console; its warnings (missed runs) and errors (a job raised) still show."""
    import logging

    from tumorboard.bootstrap import configure_logging

    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.DEBUG)  # as in a process that logs everything: only the per-logger setting can hide
    try:
        configure_logging("DEBUG")
        executor = logging.getLogger("apscheduler.executors.default")
        assert not executor.isEnabledFor(logging.INFO)
        assert executor.isEnabledFor(logging.WARNING) and executor.isEnabledFor(logging.ERROR)
        assert logging.getLogger("tumorboard.cases.jobs").isEnabledFor(logging.INFO)
    finally:
        root.setLevel(before)
