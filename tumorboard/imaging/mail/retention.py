"""Retention of raw mails: the raw file of a mail that was processed (its objects are in the image store, which
has its own retention) or that a coordinator discarded is deleted ``TUMORBOARD_MAIL_RAW_RETENTION_DAYS`` after
that decision. A mail still in quarantine, waiting for its partial set, received or released keeps its raw file
whatever its age: nobody has decided about it yet. The row and its audit trail stay; the raw download then says
that the raw data is gone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.imaging.mail.intake import RawStore
from tumorboard.imaging.mail.models import MailMessage, MailState

_DONE = (MailState.PROCESSED, MailState.DISCARDED)


def purge_raw_mails(
    session: Session, raw: RawStore, *, now: dt.datetime, retention_days: int, actor: Actor
) -> list[Path]:
    """Mark the due mails' raw files purged (audited); returns the files to delete after commit. A file is
    kept while another row with the same bytes (the same mail fetched twice) still needs it."""
    cutoff = now - dt.timedelta(days=retention_days)
    due = session.scalars(
        select(MailMessage)
        .where(
            MailMessage.state.in_(_DONE),
            MailMessage.processed_at.is_not(None),
            MailMessage.processed_at < cutoff,
            MailMessage.raw_purged_at.is_(None),
        )
        .order_by(MailMessage.id)
    ).all()
    files: list[Path] = []
    for mail in due:
        mail.raw_purged_at = now
        session.flush()
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_MAIL_PURGE,
            subject_type=SubjectType.MAIL_MESSAGE,
            subject_id=mail.id,
            at=now,
            after={"sha256": mail.sha256, "retention_days": retention_days},
        )
        still_needed = session.scalar(
            select(MailMessage.id)
            .where(MailMessage.sha256 == mail.sha256, MailMessage.raw_purged_at.is_(None))
            .limit(1)
        )
        if still_needed is None:
            files.append(raw.path(mail.sha256))
    return files
