"""The one table of background jobs and the scheduler process (``tumorboard jobs run``).

Never started inside web workers (flask-apscheduler #51): one scheduler process per installation.
Every job body is idempotent, so a coalesced or repeated run does no harm.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from tumorboard.bootstrap import Runtime
from tumorboard.cases.jobs import freeze_agendas
from tumorboard.clock import BERLIN
from tumorboard.cme.jobs import push_eiv
from tumorboard.conferences.jobs import generate_upcoming_sessions
from tumorboard.dbfaults import describe, is_busy
from tumorboard.imaging.jobs import (
    attach_mail_findings,
    complete_studies,
    purge_discussed,
    purge_mail_raw,
    render_previews,
)
from tumorboard.qm.jobs import build_bundles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[Runtime], object]
    trigger: CronTrigger
    run_at_start: bool


JOBS: tuple[Job, ...] = (
    Job("conferences.generate_sessions", generate_upcoming_sessions, CronTrigger(minute=7, timezone=BERLIN), True),
    Job("cases.freeze_agendas", freeze_agendas, CronTrigger(minute="*/5", timezone=BERLIN), True),
    Job("imaging.complete_studies", complete_studies, CronTrigger(second="*/10", timezone=BERLIN), False),
    Job("imaging.render_previews", render_previews, CronTrigger(second="5,35", timezone=BERLIN), False),
    Job("imaging.attach_mail_documents", attach_mail_findings, CronTrigger(second=50, timezone=BERLIN), True),
    Job("imaging.purge_mail_raw", purge_mail_raw, CronTrigger(hour=3, minute=29, timezone=BERLIN), True),
    Job("imaging.purge_discussed", purge_discussed, CronTrigger(hour=3, minute=17, timezone=BERLIN), True),
    # Evidence bundles requested on the QM dashboard; queued rows are built one by one (issue 11).
    Job("qm.build_bundles", build_bundles, CronTrigger(second="*/5", timezone=BERLIN), True),
    # CME reports to the chambers' EIV after signing, retries of 500/429 (issue 15); off until configured.
    Job("cme.push_eiv", push_eiv, CronTrigger(minute="*/5", timezone=BERLIN), True),
)


def _run(job: Job, runtime: Runtime) -> None:
    try:
        job.func(runtime)
    except Exception as err:  # process boundary: a failing job must not stop the scheduler
        if is_busy(err):
            # Its transaction was rolled back whole; job bodies are idempotent, the next run does the work.
            log.warning("job %s: database busy, nothing saved; runs again at its next time (%s)", job.id, describe(err))
        else:
            # database errors are logged without their messages' values (tumorboard.dbfaults.install_log_scrubber)
            log.exception("job %s failed", job.id)


def build_scheduler(runtime: Runtime) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=BERLIN)
    for job in JOBS:
        scheduler.add_job(
            _run,
            job.trigger,
            args=(job, runtime),
            id=job.id,
            name=job.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        if job.run_at_start:
            scheduler.add_job(
                _run,
                "date",
                args=(job, runtime),
                id=f"{job.id}.start",
                name=f"{job.id} (start)",
                run_date=dt.datetime.now(BERLIN),
            )
    return scheduler


def run_scheduler(runtime: Runtime) -> None:
    scheduler = build_scheduler(runtime)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("scheduler stopping (signal %s)", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    log.info("scheduler started with jobs: %s", ", ".join(j.id for j in JOBS))
    try:
        scheduler.start()
    except KeyboardInterrupt:
        scheduler.shutdown(wait=True)
    log.info("scheduler stopped")
