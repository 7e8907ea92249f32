"""Need-to-know for cases (issue 10): who sees which case, and who needs a Notfallzugriff.

- Coordinators run every board's case list: every case.
- QM audits: every case page (each read logged); lists show pseudonyms where names are not needed.
- A physician: the cases of the boards they are a member of, and the cases they registered or present.
- Everyone else (other physicians, admin): a Notfallzugriff with a reason — allowed, audited, listed for QM.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy.orm import Session

from tumorboard.access.permissions import is_member
from tumorboard.access.services import active_emergency_access
from tumorboard.auth.models import Role, User
from tumorboard.cases.models import Case
from tumorboard.errors import PermissionDenied
from tumorboard.i18n import N_


class CaseAccess(enum.StrEnum):
    NEED_TO_KNOW = "need_to_know"  #: the role or membership gives access
    EMERGENCY = "emergency"  #: an active Notfallzugriff
    NONE = "none"  #: a Notfallzugriff with a reason is needed


def sees_board_patients(session: Session, user: User, board_id: int) -> bool:
    """Names on a board's lists (case list, live page): coordinators and the board's physicians."""
    return user.role is Role.COORDINATOR or is_member(session, user, board_id)


def case_access(session: Session, user: User, case: Case, at: dt.datetime) -> CaseAccess:
    if user.role in (Role.COORDINATOR, Role.QM):
        return CaseAccess.NEED_TO_KNOW
    if user.role is Role.PHYSICIAN and (
        user.id in (case.registered_by_id, case.presenter_id) or is_member(session, user, case.board_id)
    ):
        return CaseAccess.NEED_TO_KNOW
    if active_emergency_access(session, user, case.id, at) is not None:
        return CaseAccess.EMERGENCY
    return CaseAccess.NONE


def can_read_case(session: Session, user: User, case: Case, at: dt.datetime) -> bool:
    return case_access(session, user, case, at) is not CaseAccess.NONE


def can_request_emergency_access(user: User) -> bool:
    """Every role that reads cases may open one outside its need-to-know — with a reason, audited."""
    return user.role in (Role.PHYSICIAN, Role.ADMIN, Role.QM, Role.COORDINATOR)


class NeedsEmergencyAccess(PermissionDenied):
    """The case is outside the user's need-to-know: the web answers 403 with the Notfallzugriff form."""

    def __init__(self, case: Case) -> None:
        super().__init__(
            N_(
                "Dieser Fall gehört nicht zu Ihren Konferenzen und nicht zu Ihren eigenen Fällen. Zugriff nur als "
                "Notfallzugriff mit Begründung; er wird protokolliert und vom QM geprüft."
            )
        )
        self.case_id = case.id


def authorize_case(session: Session, user: User, case: Case, at: dt.datetime) -> CaseAccess:
    """The access a user has to a case, or :class:`NeedsEmergencyAccess`."""
    access = case_access(session, user, case, at)
    if access is CaseAccess.NONE:
        raise NeedsEmergencyAccess(case)
    return access
