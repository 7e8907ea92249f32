"""Cases (Fallanmeldungen): a patient registered for a board, placed on one session's case list."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tumorboard.auth.models import User
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.db import Base, enum_column
from tumorboard.partners.models import Partner
from tumorboard.patients.models import Patient


class ConferenceType(enum.StrEnum):
    """oBDS 3.0.4 Tumorkonferenz_Typ/Typ."""

    PRAETH = "praeth"  #: prätherapeutisch (also recurrence/progression)
    POSTOP = "postop"  #: postoperativ
    POSTTH = "postth"  #: posttherapeutisch (no surgery)
    THER = "ther"  #: Therapieplanung ohne Tumorkonferenz


class CaseStatus(enum.StrEnum):
    REGISTERED = "registered"  #: angemeldet
    COMPLETE = "complete"  #: vollständig (checklist done)
    DISCUSSED = "discussed"  #: besprochen
    WITHDRAWN = "withdrawn"  #: zurückgezogen (reason required)


#: On the session's case list (and its agenda): every status but withdrawn.
ACTIVE_STATUSES = (CaseStatus.REGISTERED, CaseStatus.COMPLETE, CaseStatus.DISCUSSED)


class Case(Base):
    __tablename__ = "case_registration"
    __table_args__ = (
        Index("ix_case_registration_session_position", "session_id", "position"),
        Index("ix_case_registration_patient", "patient_id"),
        CheckConstraint("ecog IS NULL OR ecog BETWEEN 0 AND 5", name="ecog_range"),
        CheckConstraint("status <> 'withdrawn' OR withdraw_reason IS NOT NULL", name="withdraw_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"))
    board_id: Mapped[int] = mapped_column(ForeignKey("board.id", ondelete="RESTRICT"))
    #: The session whose case list holds the case; changes when a case is moved (audited).
    session_id: Mapped[int] = mapped_column(ForeignKey("conference_session.id", ondelete="RESTRICT"))
    #: The session the case was on before its last move (set by every move, kept afterwards): lets "Meine Fälle"
    #: and the case page say "Sitzung abgesagt – verschoben auf …" when that session was cancelled. NULL: never moved.
    moved_from_session_id: Mapped[int | None] = mapped_column(ForeignKey("conference_session.id", ondelete="RESTRICT"))
    #: Place on the case list (1-based, set by the coordinator's ordering).
    position: Mapped[int]
    #: ICD-10-GM code, e.g. "C18.7" (validated format), and its text as given by the registering physician.
    icd10_code: Mapped[str] = mapped_column(String(10))
    icd10_text: Mapped[str] = mapped_column(String(300))
    #: Date of the diagnosis (first histological or clinical confirmation) as given at registration; optional
    #: here, but the oBDS Tumorzuordnung needs it: a case without it is listed as not exportable.
    diagnosis_date: Mapped[dt.date | None]
    #: ICD-O-3 morphology, e.g. "8140/3"; optional.
    icdo_morphology: Mapped[str | None] = mapped_column(String(10))
    #: TNM as free text in UICC notation, e.g. "cT3 cN1 cM0"; optional.
    tnm: Mapped[str | None] = mapped_column(String(100))
    #: ECOG performance status 0–5; optional.
    ecog: Mapped[int | None]
    conference_type: Mapped[ConferenceType] = mapped_column(enum_column(ConferenceType, "conference_type"))
    #: Fragestellung: the question for the board; required.
    question: Mapped[str] = mapped_column(Text)
    registered_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    presenter_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    #: Referring partner site; NULL means our own house.
    referring_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id", ondelete="RESTRICT"))
    #: Accession number the referring site gave for the imaging (used by deterministic matching); optional.
    accession_number: Mapped[str | None] = mapped_column(String(64))
    imaging_expected: Mapped[bool] = mapped_column(default=False)
    status: Mapped[CaseStatus] = mapped_column(enum_column(CaseStatus, "case_status"), default=CaseStatus.REGISTERED)
    #: Nachmeldung: registered after the session's deadline and put on it by a coordinator anyway.
    is_late: Mapped[bool] = mapped_column(default=False)
    withdraw_reason: Mapped[str | None] = mapped_column(Text)
    registered_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    patient: Mapped[Patient] = relationship(lazy="joined")
    board: Mapped[Board] = relationship(lazy="joined")
    session: Mapped[ConferenceSession] = relationship(foreign_keys=[session_id], lazy="joined")
    moved_from_session: Mapped[ConferenceSession | None] = relationship(foreign_keys=[moved_from_session_id])
    registered_by: Mapped[User] = relationship(foreign_keys=[registered_by_id], lazy="joined")
    presenter: Mapped[User | None] = relationship(foreign_keys=[presenter_id], lazy="joined")
    referring_partner: Mapped[Partner | None] = relationship(lazy="joined")
    documents: Mapped[list[CaseDocument]] = relationship(
        back_populates="case", order_by="CaseDocument.id", lazy="selectin"
    )
    checklist: Mapped[list[CaseChecklistMark]] = relationship(back_populates="case", lazy="selectin")

    def __repr__(self) -> str:  # ids only: reprs end up in logs
        return f"<Case id={self.id} session={self.session_id}>"


class DocumentKind(enum.StrEnum):
    FINDING = "finding"  #: Befund
    PATHOLOGY = "pathology"  #: Pathologiebefund / Histologie
    LETTER = "letter"  #: Arztbrief
    OTHER = "other"


class CaseDocument(Base):
    """An attachment, stored outside the web root under a name we choose (never the uploaded name)."""

    __tablename__ = "case_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_registration.id", ondelete="RESTRICT"))
    kind: Mapped[DocumentKind] = mapped_column(enum_column(DocumentKind, "document_kind"))
    #: The name the uploader's file had — shown to users only, never used as a path.
    original_name: Mapped[str] = mapped_column(String(255))
    #: Our file name inside the instance's document store (a random hex name + ".pdf").
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    #: Who uploaded it; None for a finding that arrived with a study by DICOM E-Mail (see mail_document).
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    uploaded_at: Mapped[dt.datetime]

    case: Mapped[Case] = relationship(back_populates="documents")


class ChecklistItem(Base):
    """One completeness item of a board (configurable). ``rule`` names an automatic check; NULL means a
    coordinator ticks it by hand."""

    __tablename__ = "checklist_item"
    __table_args__ = (UniqueConstraint("board_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"))
    position: Mapped[int]
    label: Mapped[str] = mapped_column(String(200))
    #: "question" | "histology" | "imaging" | "diagnosis" (automatic), or NULL (manual).
    rule: Mapped[str | None] = mapped_column(String(30))


class CaseChecklistMark(Base):
    """A manual checklist item ticked for a case."""

    __tablename__ = "case_checklist_mark"

    case_id: Mapped[int] = mapped_column(ForeignKey("case_registration.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("checklist_item.id", ondelete="CASCADE"), primary_key=True)
    marked_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    marked_at: Mapped[dt.datetime]

    case: Mapped[Case] = relationship(back_populates="checklist")


class AgendaVersion(Base):
    """A frozen agenda (Tagesordnung) of a session: version 1 at the deadline, a new one on every later change.
    The snapshot lists the cases as they stood, with what changed since the previous version."""

    __tablename__ = "agenda_version"
    __table_args__ = (UniqueConstraint("session_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("conference_session.id", ondelete="RESTRICT"))
    version: Mapped[int]
    created_at: Mapped[dt.datetime]
    #: Who froze it ("system:scheduler" at the deadline, or the user whose change made a new version).
    created_by: Mapped[str] = mapped_column(String(120))
    #: {"cases": [{case_id, position, ..., "change": null|"added"|"moved_in"|"moved_out"|"withdrawn"}]}
    snapshot: Mapped[dict[str, Any]]
    #: The PDF/A of this version, rendered once (German) in the transaction that froze it and kept like a signed
    #: protocol's PDF (tumorboard/exports/archive.py); NULL only for versions frozen before issue 12, which are
    #: rendered and kept at their first download. Deferred: listing versions never loads the bytes.
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    #: SHA-256 (hex) of ``pdf``, checked before every download.
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
