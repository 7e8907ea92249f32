"""Recommendations (Therapieempfehlungen), the signed protocol versions and the follow-up of a recommendation.

Append-only where the law asks for it (§ 630f BGB, ISO 9001 7.5.3): a recommendation is locked when a protocol
version that contains it is signed, and is then never updated or deleted (refused here and by database triggers);
an amendment adds a new revision of the recommendation and a new protocol version.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from tumorboard.auth.models import User
from tumorboard.cases.models import Case
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.db import Base, enum_column
from tumorboard.i18n import N_

#: oBDS 3.0.4 Typ_Therapieempfehlung, with the German label shown in forms and documents.
THERAPY_TYPES: dict[str, str] = {
    "CH": N_("Chemotherapie"),
    "HO": N_("Hormontherapie"),
    "IM": N_("Immun-/Antikörpertherapie"),
    "ZS": N_("zielgerichtete Substanzen"),
    "SZ": N_("Stammzelltransplantation"),
    "CI": N_("Chemo- und Immun-/Antikörpertherapie"),
    "CZ": N_("Chemotherapie und zielgerichtete Substanzen"),
    "CIZ": N_("Chemo-, Immun-/Antikörpertherapie und zielgerichtete Substanzen"),
    "IZ": N_("Immun-/Antikörpertherapie und zielgerichtete Substanzen"),
    "WW": N_("Watchful Waiting"),
    "AS": N_("Active Surveillance"),
    "WS": N_("Wait and see"),
    "OP": N_("Operation"),
    "ST": N_("Strahlentherapie"),
    "SO": N_("Sonstiges"),
    "KW": N_("keine weitere tumorspezifische Therapie empfohlen"),
}


class LockedRecord(PermissionError):
    """A signed record was about to be changed."""


class Recommendation(Base):
    """One revision of the board's recommendation for a case. Revision 1 is recorded in the session; an amendment
    after signing adds revision n+1. The current recommendation of a case is its highest revision."""

    __tablename__ = "recommendation"
    __table_args__ = (
        UniqueConstraint("case_id", "revision"),
        Index("ix_recommendation_session", "session_id"),
        CheckConstraint("NOT guideline_deviation OR deviation_reason IS NOT NULL", name="deviation_has_reason"),
        CheckConstraint("quorum_met OR quorum_reason IS NOT NULL", name="no_quorum_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_registration.id", ondelete="RESTRICT"))
    session_id: Mapped[int] = mapped_column(ForeignKey("conference_session.id", ondelete="RESTRICT"))
    #: 1 in the session; +1 per amendment after signing.
    revision: Mapped[int] = mapped_column(default=1)
    #: oBDS Typ_Therapieempfehlung codes (keys of THERAPY_TYPES), one or more, in the order chosen.
    therapy_types: Mapped[list[str]] = mapped_column(JSON())
    #: The recommendation as the board worded it (free text).
    text: Mapped[str] = mapped_column(Text)
    #: Study/trial recommended, and which (name or registry number) when yes.
    trial_recommended: Mapped[bool] = mapped_column(default=False)
    trial_name: Mapped[str | None] = mapped_column(String(300))
    #: Wiedervorstellung erbeten: not before this date, and/or at this board.
    representation_wanted: Mapped[bool] = mapped_column(default=False)
    representation_date: Mapped[dt.date | None]
    representation_board_id: Mapped[int | None] = mapped_column(ForeignKey("board.id", ondelete="RESTRICT"))
    #: Abweichung von der Leitlinie, with the board's reason (required when True).
    guideline_deviation: Mapped[bool] = mapped_column(default=False)
    deviation_reason: Mapped[str | None] = mapped_column(Text)
    #: Whether the board's quorum was complete when the recommendation was recorded; if not, the reason the
    #: moderator gave (a nonconformity, also in the audit log).
    quorum_met: Mapped[bool] = mapped_column(default=True)
    quorum_reason: Mapped[str | None] = mapped_column(Text)
    #: When and by whom recorded (UTC); "present at the case" is derived from this moment.
    recorded_at: Mapped[dt.datetime]
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    #: Amendments only: why revision n+1 replaces revision n.
    amendment_reason: Mapped[str | None] = mapped_column(Text)
    #: Set when a signed protocol version contains this revision; from then on the row never changes.
    locked_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]

    case: Mapped[Case] = relationship(lazy="joined")
    session: Mapped[ConferenceSession] = relationship(lazy="joined")
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id], lazy="joined")
    representation_board: Mapped[Board | None] = relationship(lazy="joined")
    participants: Mapped[list[RecommendationParticipant]] = relationship(
        back_populates="recommendation", order_by="RecommendationParticipant.id", lazy="selectin"
    )

    def __repr__(self) -> str:
        return f"<Recommendation id={self.id} case={self.case_id} revision={self.revision}>"


class RecommendationParticipant(Base):
    """A participant present at the case when its recommendation was recorded (a snapshot of the attendance row,
    so the protocol names them even if the attendance is corrected later). Corrections before signing add or
    remove rows (audited, with reason)."""

    __tablename__ = "recommendation_participant"
    __table_args__ = (UniqueConstraint("recommendation_id", "attendance_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recommendation_id: Mapped[int] = mapped_column(ForeignKey("recommendation.id", ondelete="RESTRICT"))
    attendance_id: Mapped[int] = mapped_column(ForeignKey("attendance.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    institution: Mapped[str] = mapped_column(String(200), default="")
    discipline: Mapped[str] = mapped_column(String(120))
    mode: Mapped[str] = mapped_column(String(20))
    stands_in_for_name: Mapped[str | None] = mapped_column(String(200))
    stands_in_for_discipline: Mapped[str | None] = mapped_column(String(120))
    #: True when added by a correction rather than derived from the arrival/leaving times.
    corrected: Mapped[bool] = mapped_column(default=False)

    recommendation: Mapped[Recommendation] = relationship(back_populates="participants")


class ProtocolVersion(Base):
    """A signed version of a session's protocol. Never updated, never deleted (triggers in the migration)."""

    __tablename__ = "protocol_version"
    __table_args__ = (UniqueConstraint("session_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("conference_session.id", ondelete="RESTRICT"))
    #: 1 for the first signature, +1 per amendment.
    version: Mapped[int]
    signed_at: Mapped[dt.datetime]
    signed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    #: The signer's name as printed (kept if the account is renamed).
    signed_by_name: Mapped[str] = mapped_column(String(200))
    #: Amendments: why this version replaces the previous one (NULL for version 1).
    reason: Mapped[str | None] = mapped_column(Text)
    #: The protocol as plain text (one line per fact), the basis of the visible difference between versions.
    text: Mapped[str] = mapped_column(Text)
    #: The PDF/A-3b as signed, and its SHA-256 (hex) — the integrity hash auditors compare.
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))

    session: Mapped[ConferenceSession] = relationship(lazy="joined")
    signed_by: Mapped[User] = relationship(lazy="joined")


class FollowUpStatus(enum.StrEnum):
    IMPLEMENTED = "implemented"  #: umgesetzt
    DEVIATED = "deviated"  #: abgewichen


class DeviationCause(enum.StrEnum):
    MEDICAL = "medical"  #: medizinische Gründe
    PATIENT_WISH = "patient_wish"  #: Patientenwunsch
    UNKNOWN = "unknown"  #: unbekannt


class RecommendationFollowUp(Base):
    """Whether a recommendation was implemented (R7). Append-only: a later entry supersedes an earlier one."""

    __tablename__ = "recommendation_follow_up"
    __table_args__ = (
        CheckConstraint("status <> 'deviated' OR cause IS NOT NULL", name="deviation_has_cause"),
        Index("ix_recommendation_follow_up_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_registration.id", ondelete="RESTRICT"))
    status: Mapped[FollowUpStatus] = mapped_column(enum_column(FollowUpStatus, "follow_up_status"))
    #: Why it deviated (required for "abgewichen"); oBDS Abweichung_Patientenwunsch derives from it.
    cause: Mapped[DeviationCause | None] = mapped_column(enum_column(DeviationCause, "deviation_cause"))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[dt.datetime]
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))

    recorded_by: Mapped[User] = relationship(lazy="joined")


@event.listens_for(ProtocolVersion, "before_update")
@event.listens_for(ProtocolVersion, "before_delete")
@event.listens_for(RecommendationFollowUp, "before_update")
@event.listens_for(RecommendationFollowUp, "before_delete")
def _refuse_change(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    # The database refuses it too (triggers in the migration); this catches it before any SQL is sent.
    raise LockedRecord(f"{type(target).__name__} is append-only")


@event.listens_for(Recommendation, "before_update")
def _refuse_locked_update(mapper: Mapper[Any], connection: Any, target: Recommendation) -> None:
    from sqlalchemy import inspect

    history = inspect(target).attrs.locked_at.history
    was_locked = history.deleted[0] if history.deleted else (None if history.added else target.locked_at)
    if was_locked is not None:
        raise LockedRecord("a signed recommendation cannot be changed")


@event.listens_for(Recommendation, "before_delete")
def _refuse_locked_delete(mapper: Mapper[Any], connection: Any, target: Recommendation) -> None:
    if target.locked_at is not None:
        raise LockedRecord("a signed recommendation cannot be deleted")


@event.listens_for(RecommendationParticipant, "before_update")
@event.listens_for(RecommendationParticipant, "before_delete")
def _refuse_locked_participant(mapper: Mapper[Any], connection: Any, target: RecommendationParticipant) -> None:
    from sqlalchemy import select

    locked = connection.scalar(select(Recommendation.locked_at).where(Recommendation.id == target.recommendation_id))
    if locked is not None:
        raise LockedRecord("the participants of a signed recommendation cannot be changed")
