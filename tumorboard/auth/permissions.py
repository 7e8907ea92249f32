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


CASE_READ_ROLES = frozenset({Role.ADMIN, Role.COORDINATOR, Role.PHYSICIAN, Role.QM})
REGISTER_ROLES = frozenset({Role.ADMIN, Role.COORDINATOR, Role.PHYSICIAN})


def can_read_cases(user: User) -> bool:
    """Role gate for patient data; which cases a user sees is cases.permissions (need-to-know, Notfallzugriff)."""
    return user.role in CASE_READ_ROLES


def can_register_case(user: User) -> bool:
    return user.role in REGISTER_ROLES


def can_manage_case_list(user: User) -> bool:
    """Order the list, move and withdraw cases, set status and presenter, configure checklists, late override."""
    return user.role in PLAN_ROLES


def can_manage_partners(user: User) -> bool:
    """Partner sites, their DICOM AE titles and allowed addresses."""
    return user.role is Role.ADMIN


def can_triage_imaging(user: User) -> bool:
    """The inbox of received studies that no rule assigned (patient data): assign them to cases."""
    return user.role in PLAN_ROLES


# --- the conference itself (attendance, recommendations, protocol; issue 5) ---------------------------------------
CONFERENCE_ROLES = frozenset({Role.ADMIN, Role.COORDINATOR, Role.PHYSICIAN})


def can_run_conference(user: User) -> bool:
    """Role gate of the conference routes; who may act in which session is attendance.permissions and
    protocol.permissions (coordinator or the board's moderation), checked by the services."""
    return user.role in CONFERENCE_ROLES


def can_check_in_self(user: User) -> bool:
    return user.role is Role.PHYSICIAN


def can_sign_protocol(user: User) -> bool:
    """Role gate of signing and amending; the service allows only the board's moderator or a deputy who is checked
    in (protocol.services.check_may_sign)."""
    return user.role is Role.PHYSICIAN


def can_read_protocol(user: User) -> bool:
    """Protocols carry patient data: the roles that read cases."""
    return user.role in CASE_READ_ROLES


def can_view_attendance(user: User) -> bool:
    return user.role in READ_ROLES
