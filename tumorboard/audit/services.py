"""Recording and reading audit events. There is deliberately no update or delete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tumorboard import text as text_input
from tumorboard.audit.models import AuditEvent
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.errors import InvalidInput
from tumorboard.hygiene import check_text
from tumorboard.i18n import N_

if TYPE_CHECKING:  # the type only: auth writes audit events, audit does not depend on auth
    from tumorboard.auth.actors import Actor

#: A reason shorter than this says nothing ("x"); longer than the audit column it is refused.
MIN_REASON_LENGTH = 3
MAX_REASON_LENGTH = 1000


def record_event(
    session: Session,
    *,
    actor: Actor,
    tag: Tag,
    subject_type: SubjectType,
    subject_id: str | int,
    at: dt.datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Add one audit event to the caller's transaction (it commits with the change it describes).

    Only registered tags and subject types (:mod:`tumorboard.audit.tags`) are accepted; a plain string that
    happens to equal one is taken as that member.
    """
    tag, subject_type = Tag(tag), SubjectType(subject_type)  # ValueError for anything unregistered
    ev = AuditEvent(
        occurred_at=at,
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        tag=tag,
        subject_type=subject_type,
        subject_id=str(subject_id),
        before=_jsonable(before),
        after=_jsonable(after),
        reason=reason,
    )
    session.add(ev)
    return ev


def require_reason(reason: str | None, message: str) -> str:
    """The reason a user gives for a change (move, withdrawal, cancellation …), as the audit log keeps it:
    ``message`` (German, marked with ``N_``) when it is missing or shorter than :data:`MIN_REASON_LENGTH`.

    A reason longer than :data:`MAX_REASON_LENGTH` (the audit column) is refused, not cut: a cut reason
    would be stored as something the user did not write, and the form already limits the field.
    """
    check_text(reason, field="reason", multiline=True)
    text = text_input.normalize_line_breaks(text_input.nfc(reason or "")).strip()
    if len(text) < MIN_REASON_LENGTH:
        raise InvalidInput(message, field="reason")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(N_("Die Begründung darf höchstens 1000 Zeichen lang sein."), field="reason")
    return text


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dt.datetime | dt.date | dt.time):
            out[key] = value.isoformat()
        elif isinstance(value, list | tuple):
            out[key] = [str(v) if not isinstance(v, int | float | str | bool) else v for v in value]
        elif value is None or isinstance(value, int | float | str | bool):
            out[key] = value
        else:
            out[key] = str(value)
    return out


@dataclass(frozen=True)
class AuditFilter:
    tag_prefix: str | None = None
    actor: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _filtered(query: Select[Any], f: AuditFilter) -> Select[Any]:
    if f.tag_prefix:
        query = query.where(AuditEvent.tag.startswith(f.tag_prefix, autoescape=True))
    if f.actor:
        query = query.where(AuditEvent.actor_label.contains(f.actor, autoescape=True))
    if f.subject_type:
        query = query.where(AuditEvent.subject_type == f.subject_type)
    if f.subject_id:
        query = query.where(AuditEvent.subject_id == f.subject_id)
    if f.since:
        query = query.where(AuditEvent.occurred_at >= f.since)
    if f.until:
        query = query.where(AuditEvent.occurred_at < f.until)
    return query


def list_events(
    session: Session, f: AuditFilter, *, limit: int = 100, offset: int = 0
) -> tuple[Sequence[AuditEvent], int]:
    """Newest first, with the total count for paging."""
    total = session.scalar(_filtered(select(func.count(AuditEvent.id)), f)) or 0
    rows = session.scalars(
        _filtered(select(AuditEvent), f).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total
