"""The case list of a session as the session page shows it (conferences.views renders that page; the list, its
checklist and imaging column belong to the cases domain). A page part, not a route."""

from __future__ import annotations

from typing import Any

from tumorboard.auth.permissions import can_manage_case_list, can_read_cases
from tumorboard.cases import checklist
from tumorboard.cases import services as cases
from tumorboard.cases.agenda import versions
from tumorboard.cases.forms import OrderForm
from tumorboard.conferences.models import ConferenceSession
from tumorboard.imaging.summaries import imaging_complete, imaging_summaries
from tumorboard.web.request_session import db
from tumorboard.web.security import current_user


def case_list_context(cs: ConferenceSession) -> dict[str, Any]:
    """Template context of a session's case list: cases in order, imaging, checklist, agenda versions, forms."""
    rows = list(cases.session_cases(db(), cs))
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
    }
