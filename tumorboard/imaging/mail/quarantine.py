"""The coordinator's quarantine of refused mails: list with reason and sender, release (re-run with a chosen
partner; the poller processes it on its next pass) or discard — both audited. The raw mail stays in the raw
store either way (and on the server, in the Quarantine folder)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.errors import Conflict, InvalidInput, NotFound
from tumorboard.i18n import N_
from tumorboard.imaging.mail.models import MailMessage, MailState
from tumorboard.partners.models import Partner


def list_quarantine(session: Session) -> Sequence[MailMessage]:
    return session.scalars(
        select(MailMessage).where(MailMessage.state == MailState.QUARANTINED).order_by(MailMessage.id.desc())
    ).all()


def get_mail(session: Session, mail_id: int) -> MailMessage:
    mail = session.get(MailMessage, mail_id)
    if mail is None:
        raise NotFound(N_("Diese Mail gibt es nicht."))
    return mail


def release_mail(session: Session, mail: MailMessage, partner: Partner, *, at: dt.datetime, actor: Actor) -> None:
    """Hand a quarantined mail back to the intake for ``partner``: its signature must still be valid and made
    by one of that partner's pinned keys (nothing is accepted unsigned)."""
    if mail.state is not MailState.QUARANTINED:
        raise Conflict(N_("Nur Mails in der Quarantäne können freigegeben werden."))
    if mail.partial_id is not None:
        raise InvalidInput(N_("Unvollständige Teilnachrichten lassen sich nicht freigeben."))
    if not partner.mail_senders:
        raise InvalidInput(N_("Für diesen Partner ist kein Mail-Absender mit Schlüssel eingetragen."), field="partner")
    before = {"state": mail.state.value, "reason": mail.reason.value if mail.reason else None}
    mail.state = MailState.RELEASED
    mail.partner_id = partner.id
    mail.reason = None
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.IMAGING_MAIL_RELEASE,
        subject_type=SubjectType.MAIL_MESSAGE,
        subject_id=mail.id,
        at=at,
        before=before,
        after={"state": mail.state.value, "partner_id": partner.id},
    )


def discard_mail(session: Session, mail: MailMessage, *, at: dt.datetime, actor: Actor) -> None:
    if mail.state is not MailState.QUARANTINED:
        raise Conflict(N_("Nur Mails in der Quarantäne können verworfen werden."))
    before = {"state": mail.state.value, "reason": mail.reason.value if mail.reason else None}
    mail.state = MailState.DISCARDED
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.IMAGING_MAIL_DISCARD,
        subject_type=SubjectType.MAIL_MESSAGE,
        subject_id=mail.id,
        at=at,
        before=before,
        after={"state": mail.state.value},
    )
