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


def record_raw_download(session: Session, mail: MailMessage, *, at: dt.datetime, actor: Actor) -> None:
    """Audit that ``actor`` took the raw mail (patient data, encrypted as it arrived): ``imaging:mail:raw_download``."""
    record_event(session, actor=actor, tag=Tag.IMAGING_MAIL_RAW_DOWNLOAD, subject_type=SubjectType.MAIL_MESSAGE,
                 subject_id=mail.id, at=at)  # fmt: skip


def quarantined_set(session: Session, mail: MailMessage) -> list[MailMessage]:
    """The mail, or — for a message/partial fragment — every quarantined fragment of its set (a late fragment
    that came after the set's timeout included): a set is released or discarded as a whole."""
    if mail.partial_id is None:
        return [mail]
    return list(
        session.scalars(
            select(MailMessage)
            .where(MailMessage.partial_id == mail.partial_id, MailMessage.state == MailState.QUARANTINED)
            .order_by(MailMessage.partial_number, MailMessage.id)
        )
    )


def release_mail(session: Session, mail: MailMessage, partner: Partner, *, at: dt.datetime, actor: Actor) -> int:
    """Hand a quarantined mail back to the intake for ``partner``: its signature must still be valid and made
    by one of that partner's pinned keys (nothing is accepted unsigned). A fragment of an incomplete
    message/partial set releases the whole set: it waits for its missing fragments once more, a full timeout
    from now, and is taken as soon as it is complete (or goes back to quarantine). Returns how many mails."""
    if mail.state is not MailState.QUARANTINED:
        raise Conflict(N_("Nur Mails in der Quarantäne können freigegeben werden."))
    if not partner.mail_senders:
        raise InvalidInput(N_("Für diesen Partner ist kein Mail-Absender mit Schlüssel eingetragen."), field="partner")
    rows = quarantined_set(session, mail)
    for row in rows:
        before = {"state": row.state.value, "reason": row.reason.value if row.reason else None}
        row.state = MailState.RELEASED
        row.partner_id = partner.id
        row.reason = None
        row.released_at = at
        session.flush()
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_MAIL_RELEASE,
            subject_type=SubjectType.MAIL_MESSAGE,
            subject_id=row.id,
            at=at,
            before=before,
            after={"state": row.state.value, "partner_id": partner.id},
        )
    return len(rows)


def discard_mail(session: Session, mail: MailMessage, *, at: dt.datetime, actor: Actor) -> int:
    """Discard a quarantined mail (a fragment: its whole set); the raw mail stays until its retention ends.
    Returns how many mails."""
    if mail.state is not MailState.QUARANTINED:
        raise Conflict(N_("Nur Mails in der Quarantäne können verworfen werden."))
    rows = quarantined_set(session, mail)
    for row in rows:
        before = {"state": row.state.value, "reason": row.reason.value if row.reason else None}
        row.state = MailState.DISCARDED
        row.processed_at = at
        session.flush()
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_MAIL_DISCARD,
            subject_type=SubjectType.MAIL_MESSAGE,
            subject_id=row.id,
            at=at,
            before=before,
            after={"state": row.state.value},
        )
    return len(rows)
