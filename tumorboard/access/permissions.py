"""Who manages board membership, who is a board's member or moderator (object-level checks take the session)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tumorboard.access.models import BoardRole
from tumorboard.access.services import membership, moderators_of
from tumorboard.auth.models import Role, User


def can_manage_members(user: User) -> bool:
    """Board membership, moderator and deputies: admin and coordinators (web and CLI)."""
    return user.role in (Role.ADMIN, Role.COORDINATOR)


def can_list_emergency_accesses(user: User) -> bool:
    """The QM page of emergency accesses: QM and admin (as the audit log)."""
    return user.role in (Role.QM, Role.ADMIN)


def is_member(session: Session, user: User, board_id: int) -> bool:
    return user.role is Role.PHYSICIAN and membership(session, board_id, user.id) is not None


def moderates(session: Session, user: User, board_id: int) -> bool:
    """The board's moderator or one of its deputies."""
    return user.role is Role.PHYSICIAN and user.id in moderators_of(session, board_id)


def board_role(session: Session, user: User, board_id: int) -> BoardRole | None:
    row = membership(session, board_id, user.id)
    return row.role if row else None
