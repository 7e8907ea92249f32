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
    """Patient data on case lists and case pages (every read of a case page is logged)."""
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
    """Check people in and out, record recommendations and follow-up (coordinator or moderating physician)."""
    return user.role in CONFERENCE_ROLES


def can_check_in_self(user: User) -> bool:
    return user.role is Role.PHYSICIAN


def can_sign_protocol(user: User) -> bool:
    """Sign the protocol and amendments: the moderating physician (the service checks they attended)."""
    return user.role is Role.PHYSICIAN


def can_read_protocol(user: User) -> bool:
    """Protocols carry patient data: the roles that read cases."""
    return user.role in CASE_READ_ROLES


def can_view_attendance(user: User) -> bool:
    return user.role in READ_ROLES
