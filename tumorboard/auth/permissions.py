"""Who may do what. One place, used by views and CLI alike."""

from __future__ import annotations

from tumorboard.auth.models import Role, User

READ_ROLES = frozenset(Role)
PLAN_ROLES = frozenset({Role.ADMIN, Role.COORDINATOR})
AUDIT_ROLES = frozenset({Role.ADMIN, Role.QM})


def can_view_schedule(user: User) -> bool:
    return user.role in READ_ROLES


def can_plan_sessions(user: User) -> bool:
    """Cancel, move, add sessions and edit a board's series."""
    return user.role in PLAN_ROLES


def can_read_audit(user: User) -> bool:
    return user.role in AUDIT_ROLES
