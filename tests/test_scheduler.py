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
