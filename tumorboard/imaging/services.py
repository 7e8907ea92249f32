"""The study's life after intake: completeness after the quiet period, and reading studies and series.

Ingest is in :mod:`tumorboard.imaging.index`, matching and triage in :mod:`tumorboard.imaging.matching`, the case
list's summaries in :mod:`tumorboard.imaging.summaries`, previews in :mod:`tumorboard.imaging.previews`.
Services flush and audit; their callers (jobs, views, CLI) commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.errors import NotFound
from tumorboard.i18n import N_
from tumorboard.imaging.mail.quiet import quiet_period_seconds
from tumorboard.imaging.matching import match_study
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy, StudyState


# --- completeness ---------------------------------------------------------------------------------------------
def complete_quiet_studies(session: Session, *, at: dt.datetime, actor: Actor) -> list[ImagingStudy]:
    """Mark studies "vollständig (vorläufig)" whose partner's quiet period passed without a new instance.
    Unassigned ones get another deterministic matching attempt (the case may have been registered meanwhile)."""
    receiving = session.scalars(select(ImagingStudy).where(ImagingStudy.state == StudyState.RECEIVING)).all()
    done = []
    for study in receiving:
        if study.last_received_at + dt.timedelta(seconds=quiet_period_seconds(session, study)) > at:
            continue
        study.state = StudyState.COMPLETE
        study.completed_at = at
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_STUDY_COMPLETE,
            subject_type=SubjectType.IMAGING_STUDY,
            subject_id=study.id,
            at=at,
            after={"instance_count": study.instance_count},
        )
        if study.case_id is None:
            match_study(session, study, at=at, actor=actor)
        done.append(study)
    session.flush()
    return done


# --- reading --------------------------------------------------------------------------------------------------
def get_study(session: Session, study_id: int) -> ImagingStudy:
    study = session.get(ImagingStudy, study_id)
    if study is None:
        raise NotFound(N_("Diese Studie gibt es nicht."))
    return study


def get_series(session: Session, series_id: int) -> ImagingSeries:
    series = session.get(ImagingSeries, series_id)
    if series is None:
        raise NotFound(N_("Diese Serie gibt es nicht."))
    return series


def list_studies(session: Session) -> Sequence[ImagingStudy]:
    return session.scalars(select(ImagingStudy).order_by(ImagingStudy.first_received_at.desc())).all()


def generated_instance_keys(session: Session, study_ids: Sequence[int]) -> dict[int, int]:
    """Per study: how many of its instances are stored under a server-generated key (their SOP Instance UID could
    not be a key, issue 12); studies without any are left out."""
    if not study_ids:
        return {}
    rows = session.execute(
        select(ImagingSeries.study_id, func.count(ImagingInstance.id))
        .join(ImagingInstance, ImagingInstance.series_id == ImagingSeries.id)
        .where(ImagingSeries.study_id.in_(study_ids), ImagingInstance.received_sop_instance_uid.is_not(None))
        .group_by(ImagingSeries.study_id)
    ).all()
    return {study_id: count for study_id, count in rows}
