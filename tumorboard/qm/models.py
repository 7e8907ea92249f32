"""Indicator definitions as versioned configuration (issue 11): no target, quorum rule or day count is code.

Append-only: an edit adds version n+1 of the indicator for its scope (the shipped defaults have no board; a board
may get its own versions). The current definition of an indicator for a board is that board's highest version,
else the default's highest version. Figures and the evidence bundle name the version that produced them.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tumorboard.db import Base, enum_column


class IndicatorCode(enum.StrEnum):
    """The family of tumor-conference indicators (qm.md); the ids the DKG sheets use."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    R1 = "R1"
    A1 = "A1"
    A2 = "A2"
    H1 = "H1"
    Q1 = "Q1"


class TargetDirection(enum.StrEnum):
    #: The value should reach the target or more (quotas, quorum).
    AT_LEAST = "at_least"
    #: The value should stay at or below the target (deviations: "möglichst selten").
    AT_MOST = "at_most"


class IndicatorDefinition(Base):
    __tablename__ = "qm_indicator_definition"
    __table_args__ = (
        UniqueConstraint("code", "board_id", "version"),
        Index("ix_qm_indicator_definition_code", "code", "board_id"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(
            "target_percent IS NULL OR (target_percent >= 0 AND target_percent <= 100)", name="target_range"
        ),
        CheckConstraint("working_days IS NULL OR working_days BETWEEN 0 AND 60", name="working_days_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[IndicatorCode] = mapped_column(enum_column(IndicatorCode, "indicator_code", length=4))
    #: NULL: the default for every board (the shipped model set and its edits); else this board's own version.
    board_id: Mapped[int | None] = mapped_column(ForeignKey("board.id", ondelete="RESTRICT"))
    #: 1 for the first definition in its scope, +1 per edit; rows are never updated.
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    numerator: Mapped[str] = mapped_column(Text)
    denominator: Mapped[str] = mapped_column(Text)
    #: Target in percent (0–100); NULL: no numeric target (the figure is shown without a verdict).
    target_percent: Mapped[float | None] = mapped_column(Float)
    target_direction: Mapped[TargetDirection] = mapped_column(
        enum_column(TargetDirection, "target_direction"), default=TargetDirection.AT_LEAST
    )
    #: Q1 only: a case protocol counts as timely if signed at most this many working days (Mon–Fri, no NRW
    #: holiday) after the session.
    working_days: Mapped[int | None]
    #: P1–P3 only: which imported primary cases the denominator holds (entity-specific, qm.md), e.g.
    #: "ICD=C19,C20 elektiv | ICD=C18 UICC=IV elektiv"; NULL or "": every primary case. See tumorboard.qm.cohort.
    cohort_rule: Mapped[str | None] = mapped_column(Text)
    #: Where the definition comes from (sheet and its date, or "Vorgabe des Hauses").
    source: Mapped[str] = mapped_column(Text)
    #: Why this version replaces the previous one (NULL for the shipped version 1).
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    #: NULL for the shipped model set.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))

    @property
    def label(self) -> str:
        return f"{self.code.value} v{self.version}" + ("" if self.board_id is None else f" (Konferenz {self.board_id})")


class PrimaryCaseImport(Base):
    """One import of the tumor documentation system's primary-case list for a board and year (the denominator of
    P1–P3). Imports are kept; the latest import of a (board, year) is the one in force."""

    __tablename__ = "qm_primary_case_import"
    __table_args__ = (
        Index("ix_qm_primary_case_import_board_year", "board_id", "year"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("board.id", ondelete="RESTRICT"))
    #: The "Kennzahlenjahr" the list is for.
    year: Mapped[int]
    #: The uploaded file's name as given (shown to QM) and SHA-256 of its bytes (what was imported, exactly).
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int]
    imported_at: Mapped[dt.datetime]
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))


class PrimaryCase(Base):
    """One row of an import: a case of the year. Only the KIS patient number is kept of the identity (name and
    birth date are checked against our patient at import and not stored: data minimisation)."""

    __tablename__ = "qm_primary_case"
    __table_args__ = (Index("ix_qm_primary_case_import", "import_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("qm_primary_case_import.id", ondelete="CASCADE"))
    #: Line in the file (header = line 1), so the drill-down names what QM finds in the source system.
    line: Mapped[int]
    #: KIS patient number (matched to patient.patient_number at evaluation).
    patient_number: Mapped[str] = mapped_column(String(40), index=True)
    icd10_code: Mapped[str] = mapped_column(String(10))
    diagnosis_date: Mapped[dt.date]
    is_primary: Mapped[bool]
    is_operated: Mapped[bool]
    operation_date: Mapped[dt.date | None]
    therapy_start: Mapped[dt.date | None]
    #: UICC stage as exported (free text such as "IIIB"); not interpreted here.
    uicc_stage: Mapped[str] = mapped_column(String(20), default="")
    #: First local recurrence or distant metastasis (P3).
    recurrence_date: Mapped[dt.date | None]
    is_emergency: Mapped[bool]


class BundleStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BundleJob(Base):
    """A requested evidence bundle, built by the scheduler process (``qm.build_bundles``), never by a web worker.
    The row is the state: a restarted web process shows the same progress; a scheduler that died mid-build leaves
    a stale heartbeat and the job is taken up again."""

    __tablename__ = "qm_bundle_job"
    __table_args__ = (
        Index("ix_qm_bundle_job_status", "status"),
        CheckConstraint("last_day >= first_day", name="period_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: NULL: all boards.
    board_id: Mapped[int | None] = mapped_column(ForeignKey("board.id", ondelete="RESTRICT"))
    first_day: Mapped[dt.date]
    last_day: Mapped[dt.date]
    status: Mapped[BundleStatus] = mapped_column(
        enum_column(BundleStatus, "bundle_status"), default=BundleStatus.QUEUED
    )
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    #: Current step or the failure (German, shown to the requester).
    message: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    requested_by_name: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    #: The ZIP's file name below the instance folder's ``qm-bundles/``, its SHA-256 and size once done.
    file_name: Mapped[str | None] = mapped_column(String(120))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None]
