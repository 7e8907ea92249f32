"""Who may see quality-management figures: the QM role and admins, read-only (issue 11)."""

from __future__ import annotations

from tumorboard.auth.models import Role, User

QM_ROLES = frozenset({Role.ADMIN, Role.QM})


def can_view_qm(user: User) -> bool:
    """The QM dashboard, its CSV downloads and the auditor view. Physicians and coordinators get 403."""
    return user.role in QM_ROLES


def can_define_indicators(user: User) -> bool:
    """Add a version of an indicator definition: admins only (QM reads them)."""
    return user.role is Role.ADMIN
