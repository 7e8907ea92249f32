"""What the mail intake knows about each mail it fetched: where its raw bytes are, what became of it, and
whether its receipt was sent. One row per mail (per IMAP mailbox, UIDVALIDITY and UID)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tumorboard.db import Base
from tumorboard.imaging.mail.mime import QuarantineReason


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda e: [m.value for m in e], native_enum=False, length=30)


class MailState(enum.StrEnum):
    RECEIVED = "received"  #: raw message stored durably, not yet processed
    WAITING = "waiting"  #: a message/partial fragment waiting for the rest of its set
    PROCESSED = "processed"  #: its objects are durable and indexed
    QUARANTINED = "quarantined"  #: refused (see reason); raw message kept for the coordinator
    RELEASED = "released"  #: a quarantined mail re-run by a coordinator with a chosen partner
    DISCARDED = "discarded"  #: a quarantined mail a coordinator discarded (raw message kept until retention)


class MailMessage(Base):
    __tablename__ = "mail_message"
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid"),
        Index("ix_mail_message_partial", "partial_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Configured mailbox name (``TUMORBOARD_MAIL_MAILBOXES`` key) the mail was fetched from.
    mailbox: Mapped[str] = mapped_column(String(100))
    #: IMAP UIDVALIDITY and UID (RFC 3501): together they name the mail on the server.
    uidvalidity: Mapped[int] = mapped_column(BigInteger)  # unsigned 32-bit: beyond PostgreSQL's integer
    uid: Mapped[int] = mapped_column(BigInteger)
    #: SHA-256 of the raw message; its file is ``mail/raw/<sha256>.eml`` in the instance folder.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    #: Message-ID header as sent (for receipts and idempotence on resends), None when missing.
    message_id: Mapped[str | None] = mapped_column(String(500))
    #: From address, lower-case (never a patient value; shown to coordinators).
    sender: Mapped[str] = mapped_column(String(254))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="SET NULL"))
    state: Mapped[MailState] = mapped_column(_enum(MailState, "mail_state"), default=MailState.RECEIVED)
    reason: Mapped[QuarantineReason | None] = mapped_column(_enum(QuarantineReason, "mail_quarantine_reason"))
    #: Technical detail for the coordinator (never patient data).
    detail: Mapped[str] = mapped_column(Text, default="")
    #: DICOM objects this mail carried (stored or already indexed).
    object_count: Mapped[int] = mapped_column(default=0)
    #: message/partial: the set's id, this fragment's number and the set's total (when the fragment said it).
    partial_id: Mapped[str | None] = mapped_column(String(500))
    partial_number: Mapped[int | None]
    partial_total: Mapped[int | None]
    received_at: Mapped[dt.datetime]
    processed_at: Mapped[dt.datetime | None]
    #: When a coordinator last released it from quarantine (a released message/partial set waits a full timeout
    #: from then for its missing fragments).
    released_at: Mapped[dt.datetime | None]
    #: When its raw file was deleted after the retention period (the row and its audit trail stay).
    raw_purged_at: Mapped[dt.datetime | None]
    #: Name of the server folder the mail was moved to (Processed/Quarantine); None while still in the inbox.
    moved_to: Mapped[str | None] = mapped_column(String(100))
    #: When the receipt (MDN) was handed to SMTP; set *before* sending, so a crash loses a receipt rather than
    #: sending it twice.
    mdn_sent_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<MailMessage id={self.id} {self.state}>"


class MailDocument(Base):
    """A PDF finding (Befund) that came in a DICOM E-Mail beside the study's objects: kept in the document store
    at once, attached to the case as a :class:`~tumorboard.cases.models.CaseDocument` as soon as its study is
    matched (at ingest, or later by the triage and the ``imaging.attach_mail_documents`` job)."""

    __tablename__ = "mail_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_message_id: Mapped[int] = mapped_column(ForeignKey("mail_message.id", ondelete="RESTRICT"), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="SET NULL"))
    #: Study Instance UID of the objects the mail carried: the document follows that study's case.
    study_uid: Mapped[str] = mapped_column(String(64), index=True)
    #: The file name as sent (display only, never a path).
    name: Mapped[str] = mapped_column(String(255))
    #: Our file name in the document store (random hex + ".pdf").
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime]
    #: The case document made from it once the study had a case; None while the study is unmatched.
    case_document_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_document.id", ondelete="SET NULL"), unique=True
    )
