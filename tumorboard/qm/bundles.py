"""Evidence-bundle jobs (issue 11): requested on the dashboard, built by the scheduler process, downloaded when
done. The row is the state, so a restarted web process shows the same progress."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.conferences.models import Board
from tumorboard.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from tumorboard.i18n import N_
from tumorboard.qm.models import BundleJob, BundleStatus
from tumorboard.qm.period import MAX_DAYS, Period

#: A running job whose heartbeat is older than this was left by a scheduler that died: it is taken up again.
STALE_AFTER = dt.timedelta(minutes=5)


def request_bundle(
    session: Session,
    *,
    board: Board | None,
    period: Period,
    requested_by_id: int | None,
    requested_by_name: str,
    at: dt.datetime,
    actor: Actor,
) -> BundleJob:
    """Queue a bundle for ``board`` (``None``: all) and ``period``, audited (``qm:bundle:request``). An identical job
    still queued or running is returned instead of a second one (a double click queues one build, one event)."""
    if period.last < period.first:
        raise InvalidInput(N_("Das Ende des Zeitraums liegt vor seinem Anfang."), field="end")
    if (period.last - period.first).days > MAX_DAYS:
        raise InvalidInput(N_("Der Zeitraum darf höchstens drei Jahre umfassen."), field="end")
    board_id = board.id if board else None
    pending = session.scalar(
        select(BundleJob).where(
            BundleJob.status.in_([BundleStatus.QUEUED, BundleStatus.RUNNING]),
            BundleJob.board_id.is_(None) if board_id is None else BundleJob.board_id == board_id,
            BundleJob.first_day == period.first,
            BundleJob.last_day == period.last,
        )
    )
    if pending is not None:
        return pending
    job = BundleJob(
        board_id=board_id,
        first_day=period.first,
        last_day=period.last,
        status=BundleStatus.QUEUED,
        message=N_("In der Warteschlange"),
        requested_by_id=requested_by_id,
        requested_by_name=requested_by_name,
        requested_at=at,
    )
    session.add(job)
    session.flush()
    record_event(
        session, actor=actor, tag=Tag.QM_BUNDLE_REQUEST, subject_type=SubjectType.QM_BUNDLE, subject_id=job.id, at=at,
        after={"board_id": board_id, "first_day": period.first.isoformat(), "last_day": period.last.isoformat()},
    )  # fmt: skip
    return job


def get_job(session: Session, job_id: int) -> BundleJob:
    job = session.get(BundleJob, job_id)
    if job is None:
        raise NotFound(N_("Dieses Nachweispaket gibt es nicht."))
    return job


def recent_jobs(session: Session, limit: int = 20) -> Sequence[BundleJob]:
    return session.scalars(select(BundleJob).order_by(BundleJob.id.desc()).limit(limit)).all()


def claim_next(session: Session, *, now: dt.datetime) -> BundleJob | None:
    """Take the oldest queued job, or a running one whose builder died (stale heartbeat), for this process. The
    conditional UPDATE makes the claim atomic even if two schedulers ran by mistake."""
    candidates = session.scalars(
        select(BundleJob.id)
        .where(
            or_(
                BundleJob.status == BundleStatus.QUEUED,
                (BundleJob.status == BundleStatus.RUNNING) & (BundleJob.heartbeat_at < now - STALE_AFTER),
            )
        )
        .order_by(BundleJob.id)
    ).all()
    for job_id in candidates:
        claimed = session.execute(
            update(BundleJob)
            .where(
                BundleJob.id == job_id,
                or_(
                    BundleJob.status == BundleStatus.QUEUED,
                    (BundleJob.status == BundleStatus.RUNNING) & (BundleJob.heartbeat_at < now - STALE_AFTER),
                ),
            )
            .values(status=BundleStatus.RUNNING, heartbeat_at=now, progress_done=0, message=N_("Gestartet"))
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return session.get(BundleJob, job_id)
    return None


def record_bundle(
    session: Session,
    *,
    sha256: str,
    size: int,
    board_id: int | None,
    period: Period,
    job_id: int | None,
    at: dt.datetime,
    actor: Actor,
) -> None:
    """The bundle's own SHA-256 into the audit log (CLI and job alike)."""
    record_event(
        session,
        actor=actor,
        tag=Tag.QM_BUNDLE_BUILD,
        subject_type=SubjectType.QM_BUNDLE,
        subject_id=job_id if job_id is not None else "-",
        at=at,
        after={
            "sha256": sha256,
            "size": size,
            "board_id": board_id,
            "from": period.first.isoformat(),
            "to": period.last.isoformat(),
        },
    )


def download_bundle(session: Session, job: BundleJob, *, directory: Path, at: dt.datetime, actor: Actor) -> Path:
    """The finished bundle's file, its SHA-256 checked against the one recorded when it was built; the download is
    audited — the ZIP holds every signed protocol of the period, that is patient data (like the oBDS download)."""
    if job.status is not BundleStatus.DONE or not job.file_name:
        raise Conflict(N_("Das Nachweispaket ist noch nicht fertig."))
    path = directory / job.file_name
    if not path.is_file():
        raise NotFound(N_("Die Datei des Nachweispakets fehlt."))
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if job.sha256 and digest.hexdigest() != job.sha256:
        raise ConfigurationError(N_("Die Datei des Nachweispakets stimmt nicht mehr mit ihrer Prüfsumme überein."))
    record_event(session, actor=actor, tag=Tag.QM_BUNDLE_DOWNLOAD, subject_type=SubjectType.QM_BUNDLE,
                 subject_id=job.id, at=at)  # fmt: skip
    return path
