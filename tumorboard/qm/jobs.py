"""Background job: build the requested evidence bundles (runs in the scheduler process only)."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session

from tumorboard.auth.actors import SCHEDULER
from tumorboard.bootstrap import Runtime
from tumorboard.conferences.models import Board
from tumorboard.errors import TumorboardError
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.i18n import N_, translate
from tumorboard.qm.bundle import collect_bundle
from tumorboard.qm.bundles import claim_next, record_bundle
from tumorboard.qm.models import BundleJob, BundleStatus
from tumorboard.qm.period import Period, PeriodKind, year_period
from tumorboard.qm.services import resolve_boards

if TYPE_CHECKING:
    from tumorboard.exports.qm_bundle import WrittenBundle

log = logging.getLogger(__name__)


def make_bundle(
    session: Session,
    *,
    boards: Sequence[Board],
    period: Period,
    now: dt.datetime,
    templates: ExportTemplates,
    generated_by: str,
    target: Path,
    progress: Callable[[str, int, int], None] | None = None,
) -> WrittenBundle:
    """Collect one bundle and write it to ``target`` (the CLI and the job share it); nothing is left at
    ``target`` if it fails."""
    # WeasyPrint, fpdf2 and matplotlib load when a bundle is built, not with the job table: every CLI command
    # imports this module, and the listener and the scheduler start through the CLI.
    from tumorboard.exports.qm_bundle import write_bundle

    data = collect_bundle(session, boards=boards, period=period, now=now, progress=progress)
    return write_bundle(
        data, target, templates=templates, generated_by=generated_by, generated_at=now, progress=progress
    )


def bundle_dir(runtime: Runtime) -> Path:
    path = runtime.settings.instance_path / "qm-bundles"
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_period(job: BundleJob) -> Period:
    whole_year = year_period(job.first_day.year)
    if (job.first_day, job.last_day) == (whole_year.first, whole_year.last):
        return whole_year
    return Period(job.first_day, job.last_day, PeriodKind.RANGE)


def build_bundles(runtime: Runtime) -> int:
    """Build every queued bundle, one after the other; progress and heartbeat are committed as it goes (a separate
    session, so the page polling the job sees them). Idempotent: nothing queued, nothing done."""
    built = 0
    while True:
        with runtime.session_factory() as session:
            job = claim_next(session, now=runtime.clock.now())
            session.commit()
            if job is None:
                return built
            job_id = job.id
        _build_one(runtime, job_id)
        built += 1


def _progress(runtime: Runtime, job_id: int) -> Callable[[str, int, int], None]:
    def report(step: str, done: int, total: int) -> None:
        with runtime.session_factory() as session:
            session.execute(
                update(BundleJob)
                .where(BundleJob.id == job_id)
                .values(progress_done=done, progress_total=total, message=step, heartbeat_at=runtime.clock.now())
            )
            session.commit()

    return report


def _build_one(runtime: Runtime, job_id: int) -> None:
    # Two transactions: a long read that builds the bytes (progress is committed meanwhile by other sessions), then
    # a short write. On SQLite a read transaction cannot become a write after others committed (its snapshot is
    # stale: SQLITE_BUSY_SNAPSHOT), so the result is recorded in a fresh session. The long read takes no write lock
    # (a read-only session): the progress reports, which write, would otherwise wait for it.
    with runtime.read_sessions()() as session:
        job = session.get(BundleJob, job_id)
        assert job is not None
        period = job_period(job)
        generated_by, board_id = job.requested_by_name, job.board_id
        building = bundle_dir(runtime) / f"nachweispaket-{job_id}.zip"
        try:
            boards = resolve_boards(session, str(board_id) if board_id else None)
            written = make_bundle(
                session,
                boards=boards,
                period=period,
                now=runtime.clock.now(),
                templates=runtime.templates,
                generated_by=generated_by,
                target=building,
                progress=_progress(runtime, job_id),
            )
        except TumorboardError as err:
            session.rollback()
            _finish(runtime, job_id, BundleStatus.FAILED, translate(err.message, "de", **err.params))
            log.warning("bundle job %s failed: %s", job_id, err.message)
            return
        except Exception:  # process boundary of one job: record the failure, keep the scheduler running
            session.rollback()
            log.exception("bundle job %s failed", job_id)
            _finish(runtime, job_id, BundleStatus.FAILED, N_("Interner Fehler beim Erstellen; siehe Protokoll."))
            return
        session.rollback()
    digest = written.sha256
    name = f"nachweispaket-{job_id}-{digest[:12]}.zip"
    os.replace(building, bundle_dir(runtime) / name)
    with runtime.session_factory() as session:
        job = session.get(BundleJob, job_id)
        assert job is not None
        job.status = BundleStatus.DONE
        job.file_name = name
        job.sha256 = digest
        job.size_bytes = written.size
        job.message = N_("Fertig")
        job.finished_at = runtime.clock.now()
        job.progress_done = job.progress_total
        record_bundle(
            session,
            sha256=digest,
            size=written.size,
            board_id=board_id,
            period=period,
            job_id=job_id,
            at=runtime.clock.now(),
            actor=SCHEDULER,
        )
        session.commit()
    log.info("bundle job %s done (%d bytes)", job_id, written.size)


def _finish(runtime: Runtime, job_id: int, status: BundleStatus, message: str) -> None:
    with runtime.session_factory() as session:
        session.execute(
            update(BundleJob)
            .where(BundleJob.id == job_id)
            .values(status=status, message=message[:2000], finished_at=runtime.clock.now())
        )
        session.commit()
