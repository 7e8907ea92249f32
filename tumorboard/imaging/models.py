"""The study index: what partners sent us by DICOM, down to each stored instance.

Values "as received" (names, IDs, dates) are kept exactly as the sender encoded them, decoded per Specific
Character Set (IHE Import Reconciliation); matching to a case never changes them.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tumorboard.cases.models import Case
from tumorboard.db import Base, enum_column
from tumorboard.partners.models import Partner


class StudyState(enum.StrEnum):
    RECEIVING = "receiving"  #: Empfang läuft: an instance arrived within the partner's quiet period
    COMPLETE = "complete"  #: vollständig (vorläufig): quiet period passed; a late instance reopens it
    PURGED = "purged"  #: images deleted by retention; the record stays


class MatchMethod(enum.StrEnum):
    PARTNER_PATIENT_ID = "partner_patient_id"  #: sending partner + its patient ID
    ACCESSION = "accession"  #: accession number registered with the case
    PATIENT_NUMBER = "patient_number"  #: our patient number + birth date
    MANUAL = "manual"  #: assigned by a coordinator from the triage inbox


class ImagingStudy(Base):
    __tablename__ = "imaging_study"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The study's key: its Study Instance UID (0020,000D) as received when usable (digits and dots, ≤ 64),
    #: else a server-generated ``2.25.<uuid>`` (tumorboard.imaging.dicom.dataset.keys; issue 12).
    study_uid: Mapped[str] = mapped_column(String(64), unique=True)
    #: Set only when ``study_uid`` was generated: the Study Instance UID as received ("" when none was sent),
    #: at most 200 characters, control characters escaped. Shown in the triage inbox; never in a path or a log.
    received_study_uid: Mapped[str | None] = mapped_column(Text)
    #: The partner whose registered AE/address sent the first instance.
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="RESTRICT"), index=True)
    #: Patient's Name (0010,0010) as received, decoded per (0008,0005), DICOM PN with "^" separators.
    patient_name: Mapped[str] = mapped_column(String(400), default="")
    #: Patient ID (0010,0020) as received (the partner's ID) and its Issuer (0010,0021).
    patient_id: Mapped[str] = mapped_column(String(64), default="")
    issuer_of_patient_id: Mapped[str] = mapped_column(String(64), default="")
    #: Patient's Birth Date (0010,0030); NULL if absent or not a valid DA.
    birth_date: Mapped[dt.date | None]
    #: Patient's Sex (0010,0040) as received: M, F, O or "".
    sex: Mapped[str] = mapped_column(String(16), default="")
    accession_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    #: Study Date (0008,0020); NULL if absent or invalid.
    study_date: Mapped[dt.date | None]
    study_description: Mapped[str] = mapped_column(String(200), default="")
    #: Specific Character Set (0008,0005) as received, e.g. "ISO_IR 100".
    character_set: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[StudyState] = mapped_column(
        enum_column(StudyState, "imaging_study_state"), default=StudyState.RECEIVING
    )
    #: Number of distinct instances (by SOP Instance UID) indexed for this study.
    instance_count: Mapped[int] = mapped_column(default=0)
    first_received_at: Mapped[dt.datetime]
    last_received_at: Mapped[dt.datetime]
    #: When the quiet period last passed (set by the scheduler); cleared when a late instance reopens the study.
    completed_at: Mapped[dt.datetime | None]
    #: The case the study belongs to; set by deterministic matching or by a coordinator (audited).
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_registration.id", ondelete="SET NULL"), index=True)
    match_method: Mapped[MatchMethod | None] = mapped_column(enum_column(MatchMethod, "imaging_match_method"))
    #: Ranked triage suggestions [{"case_id", "score", "reasons"}], recomputed while unassigned.
    suggestions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: When retention deleted the images (the index rows stay as the record that they existed).
    purged_at: Mapped[dt.datetime | None]
    #: Rejected in the triage as sent by mistake (issue 13): kept and audited, out of the inbox, purged
    #: ``retention_days`` after the rejection like a discussed case's images. NULL: not rejected.
    rejected_at: Mapped[dt.datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(Text)

    partner: Mapped[Partner] = relationship(lazy="joined")
    case: Mapped[Case | None] = relationship()
    series: Mapped[list[ImagingSeries]] = relationship(
        back_populates="study", order_by="ImagingSeries.series_number", lazy="selectin"
    )

    def __repr__(self) -> str:  # ids only: reprs end up in logs
        return f"<ImagingStudy id={self.id}>"


class ImagingSeries(Base):
    __tablename__ = "imaging_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("imaging_study.id", ondelete="CASCADE"), index=True)
    #: The series' key: Series Instance UID (0020,000E) as received when usable, else server-generated.
    series_uid: Mapped[str] = mapped_column(String(64), unique=True)
    #: Set only when ``series_uid`` was generated: the value as received (as for the study's).
    received_series_uid: Mapped[str | None] = mapped_column(Text)
    #: Modality (0008,0060), e.g. CT, MR, PT.
    modality: Mapped[str] = mapped_column(String(16), default="")
    series_number: Mapped[int | None]
    series_description: Mapped[str] = mapped_column(String(200), default="")
    #: Body Part Examined (0018,0015).
    body_part: Mapped[str] = mapped_column(String(64), default="")
    instance_count: Mapped[int] = mapped_column(default=0)
    #: Preview PNG file name inside the preview folder (our name, "<series id>.png"), set by the preview job.
    preview_name: Mapped[str | None] = mapped_column(String(80))
    #: Why there is no preview ("keine Vorschau"): e.g. transfer syntax not decodable; NULL while pending/ok.
    preview_error: Mapped[str | None] = mapped_column(String(200))
    #: The instance count the preview was rendered for; a re-render happens when more arrive.
    preview_instance_count: Mapped[int] = mapped_column(default=0)

    study: Mapped[ImagingStudy] = relationship(back_populates="series")


class ImagingInstance(Base):
    """One stored object. The same SOP Instance UID with different bytes is kept twice and flagged."""

    __tablename__ = "imaging_instance"
    __table_args__ = (
        UniqueConstraint("sop_instance_uid", "sha256"),
        Index("ix_imaging_instance_series", "series_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("imaging_series.id", ondelete="CASCADE"))
    #: The instance's key: SOP Instance UID of the C-STORE request as received when usable, else server-generated.
    sop_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    #: Set only when ``sop_instance_uid`` was generated: the value as received (as for the study's).
    received_sop_instance_uid: Mapped[str | None] = mapped_column(Text)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    #: Transfer syntax the object was received (and is stored) in.
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64))
    instance_number: Mapped[int | None]
    #: SHA-256 of the stored file; the file's name in the store is derived from it (never from peer values).
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    received_at: Mapped[dt.datetime]
    #: Another copy with the same SOP Instance UID but different bytes exists (both kept).
    conflicting: Mapped[bool] = mapped_column(default=False)
    #: Calling AE title and address of the association that delivered it (provenance).
    calling_ae_title: Mapped[str] = mapped_column(String(16))
    peer_address: Mapped[str] = mapped_column(String(64))
    #: When retention deleted the file.
    deleted_at: Mapped[dt.datetime | None]
    #: Free-text note (e.g. conflict details) for admins; never patient data.
    note: Mapped[str | None] = mapped_column(Text)

    series: Mapped[ImagingSeries] = relationship()
