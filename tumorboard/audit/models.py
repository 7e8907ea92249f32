"""The append-only audit log (ISO 9001 7.5.3, § 630f BGB): who changed what, when, from what to what."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from tumorboard.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_subject", "subject_type", "subject_id"),
        Index("ix_audit_event_occurred_at", "occurred_at"),
        Index("ix_audit_event_tag", "tag"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: When the change was made, UTC, from the injected clock; set once.
    occurred_at: Mapped[dt.datetime]
    #: The user who acted; NULL for system actors (scheduler, listener, CLI without a user, anonymous login).
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    #: Readable actor at the time of the event ("user:kcoord", "system:scheduler"); kept if the user is renamed.
    actor_label: Mapped[str] = mapped_column(String(120))
    #: ``domain:subject:action``, e.g. ``conference:session:cancel``.
    tag: Mapped[str] = mapped_column(String(120))
    subject_type: Mapped[str] = mapped_column(String(60))
    subject_id: Mapped[str] = mapped_column(String(60))
    #: Changed fields before and after; never patient names in free text beyond what the subject needs.
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    #: Free-text reason a user gave (cancellation, move), if any.
    reason: Mapped[str | None] = mapped_column(String(1000))


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_change(mapper: Mapper[AuditEvent], connection: Any, target: AuditEvent) -> None:
    # The database refuses it too (triggers in the migration); this catches it before any SQL is sent.
    raise PermissionError("audit events are append-only")
