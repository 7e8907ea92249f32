"""The case list of a session as the session page shows it (conferences.views renders that page; the list, its
checklist and imaging column belong to the cases domain). A page part, not a route."""

from __future__ import annotations

from typing import Any

from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.models import Role
from tumorboard.auth.permissions import can_manage_case_list, can_read_cases
from tumorboard.cases import checklist
from tumorboard.cases import services as cases
from tumorboard.cases.agenda import versions
from tumorboard.cases.forms import OrderForm
from tumorboard.cases.models import Case
from tumorboard.cases.permissions import CaseAccess, case_access, sees_board_patients
from tumorboard.conferences.models import ConferenceSession
from tumorboard.imaging.summaries import imaging_complete, imaging_summaries
from tumorboard.protocol.permissions import can_read_session_protocol
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, current_user, now


def visible_cases(rows: list[Case]) -> dict[int, bool]:
    """Per case of a list: may the reader see the patient's name (need-to-know), or only a pseudonym?"""
    user, moment = current_user(), now()
    if rows and sees_board_patients(db(), user, rows[0].board_id):
        return {c.id: True for c in rows}
    return {c.id: case_access(db(), user, c, moment) is CaseAccess.NEED_TO_KNOW and user.role is not Role.QM
            for c in rows}  # fmt: skip


def pseudonyms(rows: list[Case]) -> dict[int, str]:
    from tumorboard.access.services import pseudonym

    secret = runtime().settings.secret_key
    return {c.id: pseudonym(secret, c.patient_id) for c in rows}


def log_list_access(
    tag: Tag, subject_type: SubjectType, subject_id: int, rows: list[Case], visible: dict[int, bool]
) -> None:
    """A list that shows patients writes one access event (GDPR Art. 9): the ids of the cases shown with names,
    and of those shown pseudonymised (pseudonymised data is still personal data)."""
    from tumorboard.access.services import log_access

    if rows:
        log_access(db(), tag=tag, subject_type=subject_type, subject_id=subject_id, at=now(), actor=current_actor(),
                   case_ids=[c.id for c in rows if visible.get(c.id)],
                   pseudonymised=[c.id for c in rows if not visible.get(c.id)])  # fmt: skip


def case_list_context(cs: ConferenceSession) -> dict[str, Any]:
    """Template context of a session's case list: cases in order, imaging, checklist, agenda versions, forms."""
    rows = list(cases.session_cases(db(), cs))
    visible = visible_cases(rows)
    imaging = imaging_summaries(db(), [c.id for c in rows])
    items = checklist.items_of(db(), cs.board)
    checks = {c.id: checklist.evaluate(c, items, imaging_complete(imaging.get(c.id))) for c in rows}
    latest = versions(db(), cs)
    return {
        "cases": rows,
        "imaging": imaging,
        "checks": checks,
        "order_form": OrderForm(formdata=None),
        "agenda_versions": latest,
        "can_manage": can_manage_case_list(current_user()),
        "can_read_cases": can_read_cases(current_user()),
        "visible": visible,
        "pseudonyms": pseudonyms(rows),
        "sees_names": sees_board_patients(db(), current_user(), cs.board_id),
        "can_protocol": can_read_session_protocol(db(), current_user(), cs),
    }
