"""Board membership (physicians of a board, its moderator and deputies) and emergency accesses ("Notfallzugriff")."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tumorboard.auth.models import User
from tumorboard.conferences.models import Board
from tumorboard.db import Base


class BoardRole(enum.StrEnum):
    """A physician's role within one board."""

    MEMBER = "member"  #: Mitglied: sees the board's cases, checks themself in
    DEPUTY = "deputy"  #: Stellvertretung der Moderation: runs the session, signs when checked in
    MODERATOR = "moderator"  #: Moderation (one per board): runs the session, signs when checked in

    @property
    def moderates(self) -> bool:
        return self is not BoardRole.MEMBER


class BoardMember(Base):
    """One physician in one board. Managed by admin and coordinators (web and CLI); every change is audited."""

    __tablename__ = "board_member"
    __table_args__ = (
        Index("uq_board_member_board_user", "board_id", "user_id", unique=True),
        Index("ix_board_member_user", "user_id"),
        # one moderator per board; deputies as many as the board wants
        Index(
            "uq_board_member_moderator",
            "board_id",
            unique=True,
            sqlite_where=text("role = 'moderator'"),
            postgresql_where=text("role = 'moderator'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey("board.id", ondelete="CASCADE"))
    #: A physician's account (role ``physician``); checked by the service.
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    #: member / deputy / moderator; set by admin or coordinator, audited (``access:member:*``).
    role: Mapped[BoardRole] = mapped_column(
        Enum(
            BoardRole,
            name="board_role",
            values_callable=lambda e: [m.value for m in e],
            native_enum=False,
            length=20,
            validate_strings=True,
        ),
        default=BoardRole.MEMBER,
    )
    added_at: Mapped[dt.datetime]
    #: Who added the member (NULL: the CLI or the demo loader).
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))

    board: Mapped[Board] = relationship(lazy="joined")
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")

    def __repr__(self) -> str:
        return f"<BoardMember board={self.board_id} user={self.user_id} role={self.role.value}>"


class EmergencyAccess(Base):
    """Notfallzugriff: a user opened a case outside their need-to-know, with a reason. Valid for a few hours,
    audited (``access:emergency:grant``) and listed for QM."""

    __tablename__ = "emergency_access"
    __table_args__ = (Index("ix_emergency_access_user_case", "user_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    case_id: Mapped[int] = mapped_column(ForeignKey("case_registration.id", ondelete="RESTRICT"))
    #: The reason the user gave (free text, at least a few words); shown to QM.
    reason: Mapped[str] = mapped_column(String(1000))
    granted_at: Mapped[dt.datetime]
    #: Access ends here (granted_at + EMERGENCY_HOURS); a later access needs a new reason.
    expires_at: Mapped[dt.datetime]

    user: Mapped[User] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"<EmergencyAccess id={self.id} user={self.user_id} case={self.case_id}>"
