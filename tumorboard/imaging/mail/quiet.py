"""The quiet period of a study that arrived (partly) by mail: the partner's mail quiet period (default 15
minutes), since a study's hundreds of mails trickle in through mail queues far slower than C-STORE."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy

#: ``peer_address`` of instances the mail intake indexed (see :mod:`tumorboard.imaging.mail.intake`).
MAIL_PEER = "mail"


def quiet_period_seconds(session: Session, study: ImagingStudy) -> int:
    partner = study.partner
    by_mail = session.scalar(
        select(ImagingInstance.id)
        .join(ImagingSeries, ImagingInstance.series_id == ImagingSeries.id)
        .where(ImagingSeries.study_id == study.id, ImagingInstance.peer_address == MAIL_PEER)
        .limit(1)
    )
    if by_mail is None:
        return partner.quiet_period_seconds
    return max(partner.quiet_period_seconds, partner.mail_quiet_period_seconds)
