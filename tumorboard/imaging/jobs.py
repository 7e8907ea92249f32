"""Background jobs of the imaging domain: completeness, previews, retention. Each body is idempotent."""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import SCHEDULER, Actor
from tumorboard.bootstrap import Runtime
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.conferences.models import ConferenceSession
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy, StudyState
from tumorboard.imaging.previews import PreviewError, preview_png
from tumorboard.imaging.services import complete_quiet_studies

log = logging.getLogger(__name__)


def _spool(runtime: Runtime) -> Spool:
    runtime.store.create_folders()
    return runtime.store


# --- completeness ---------------------------------------------------------------------------------------------
def complete_studies(runtime: Runtime) -> int:
    """Turn studies "vollständig (vorläufig)" once their partner's quiet period passed."""
    with runtime.session_factory() as session:
        done = complete_quiet_studies(session, at=runtime.clock.now(), actor=SCHEDULER)
        session.commit()
    if done:
        log.info("%d studies complete (provisional)", len(done))
    return len(done)


# --- findings that came by mail -----------------------------------------------------------------------------
def attach_mail_findings(runtime: Runtime) -> int:
    """Attach PDF findings that came by mail to their study's case once the study is matched (triage)."""
    from tumorboard.imaging.mail.documents import attach_mail_documents

    with runtime.session_factory() as session:
        attached = attach_mail_documents(session, at=runtime.clock.now(), actor=SCHEDULER)
        session.commit()
    if attached:
        log.info("%d findings from mails attached to their cases", attached)
    return attached


def purge_mail_raw(runtime: Runtime) -> int:
    """Delete raw mails whose retention ended (processed or discarded, ``raw_retention_days`` ago)."""
    from tumorboard.imaging.mail.intake import RawStore
    from tumorboard.imaging.mail.retention import purge_raw_mails

    with runtime.session_factory() as session:
        files = purge_raw_mails(
            session,
            RawStore(runtime.mail.raw_path),
            now=runtime.clock.now(),
            retention_days=runtime.mail.raw_retention_days,
            actor=SCHEDULER,
        )
        session.commit()
    for path in files:  # after the commit: a crash before it leaves the files, and the next run finds them due
        path.unlink(missing_ok=True)
    if files:
        log.info("%d raw mails deleted after their retention period", len(files))
    return len(files)


# --- previews -------------------------------------------------------------------------------------------------
def render_previews(runtime: Runtime, *, limit: int = 50) -> int:
    """Render one preview per series (a middle slice, windowed) for series that got new instances since."""
    spool = _spool(runtime)
    rendered = 0
    with runtime.session_factory() as session:
        pending = session.scalars(
            select(ImagingSeries)
            .join(ImagingStudy)
            .where(
                ImagingStudy.state != StudyState.PURGED,
                ImagingSeries.instance_count != ImagingSeries.preview_instance_count,
            )
            .order_by(ImagingSeries.id)
            .limit(limit)
        ).all()
        for series in pending:
            render_series_preview(session, series, spool)
            rendered += 1
        session.commit()
    return rendered


def render_series_preview(session: Session, series: ImagingSeries, spool: Spool) -> None:
    instances = session.scalars(
        select(ImagingInstance)
        .where(ImagingInstance.series_id == series.id, ImagingInstance.deleted_at.is_(None))
        .order_by(ImagingInstance.instance_number, ImagingInstance.id)
    ).all()
    series.preview_instance_count = series.instance_count
    if not instances:
        return
    middle = instances[len(instances) // 2]
    path = spool.object_path(middle.sha256)
    try:
        png = preview_png(path)
    except PreviewError as err:
        series.preview_name, series.preview_error = None, err.reason
        return
    name = spool.preview_name(series.id)
    fd, temp = tempfile.mkstemp(dir=spool.incoming, suffix=".png")
    with os.fdopen(fd, "wb") as fh:
        fh.write(png)
    os.replace(temp, spool.preview_path(name))
    series.preview_name, series.preview_error = name, None


# --- retention ------------------------------------------------------------------------------------------------
def purge_discussed(runtime: Runtime) -> int:
    """Delete the images of studies whose case was discussed at a session more than ``retention_days`` ago, and of
    studies rejected in the triage that long ago (issue 13).
    The index rows stay (the record that they existed); audited. Files go only after the commit."""
    settings = runtime.imaging
    spool = _spool(runtime)
    now = runtime.clock.now()
    with runtime.session_factory() as session:
        files = purge_studies(session, now=now, retention_days=settings.retention_days, actor=SCHEDULER)
        session.commit()
    for relative in files:
        spool.remove(relative)
    return len(files)


def purge_studies(session: Session, *, now: dt.datetime, retention_days: int, actor: Actor) -> list[str]:
    """Mark due studies purged and their instances deleted; returns the store paths to delete after commit."""
    cutoff = now - dt.timedelta(days=retention_days)
    due = [
        *session.scalars(
            select(ImagingStudy)
            .join(Case, ImagingStudy.case_id == Case.id)
            .join(ConferenceSession, Case.session_id == ConferenceSession.id)
            .where(
                Case.status == CaseStatus.DISCUSSED,
                ConferenceSession.starts_at <= cutoff,
                ImagingStudy.state != StudyState.PURGED,
            )
        ),
        # rejected in the triage (issue 13): the same period, counted from the rejection
        *session.scalars(
            select(ImagingStudy).where(
                ImagingStudy.case_id.is_(None),
                ImagingStudy.rejected_at.is_not(None),
                ImagingStudy.rejected_at <= cutoff,
                ImagingStudy.state != StudyState.PURGED,
            )
        ),
    ]
    files: list[str] = []
    for study in due:
        instances = session.scalars(
            select(ImagingInstance)
            .join(ImagingSeries)
            .where(ImagingSeries.study_id == study.id, ImagingInstance.deleted_at.is_(None))
        ).all()
        for inst in instances:
            inst.deleted_at = now
            files.append(Spool.object_relative(inst.sha256))
        for series in study.series:
            if series.preview_name:
                files.append(Spool.preview_relative(Spool.preview_name(series.id)))
            series.preview_name = None
        study.state = StudyState.PURGED
        study.purged_at = now
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_STUDY_PURGE,
            subject_type=SubjectType.IMAGING_STUDY,
            subject_id=study.id,
            at=now,
            after={"case_id": study.case_id, "files": len(instances), "retention_days": retention_days},
        )
    session.flush()
    return files
