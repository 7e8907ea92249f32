"""The live page of a session, shared by the attendance views (check-in, leaving) and the protocol views (signing):
who is here, the quorum, the recommendations so far and the signature form. A page part, not a route: the routes stay
in each domain's views."""

from __future__ import annotations

from typing import Any

from flask import render_template
from werkzeug.wrappers import Response as BaseResponse

from tumorboard.access.permissions import board_role, moderates
from tumorboard.attendance import services as att
from tumorboard.attendance.forms import CheckInForm, ExternalCheckInForm, LeaveForm, SelfCheckInForm
from tumorboard.attendance.permissions import can_check_in_self as may_check_in_self
from tumorboard.attendance.permissions import can_run_session
from tumorboard.auth.models import User
from tumorboard.auth.permissions import can_read_protocol
from tumorboard.auth.services import active_physicians
from tumorboard.cases.pages import pseudonyms, visible_cases
from tumorboard.cases.services import session_cases
from tumorboard.conferences.models import ConferenceSession
from tumorboard.protocol import services as proto
from tumorboard.protocol.forms import SignForm
from tumorboard.web.request_session import db
from tumorboard.web.security import current_user, now

Page = str | tuple[str, int] | BaseResponse


def physicians() -> list[User]:
    return list(active_physicians(db()))


def live_context(cs: ConferenceSession) -> dict[str, Any]:
    rows = list(att.list_attendance(db(), cs))
    moment = now()
    cases = list(session_cases(db(), cs))
    return {
        "cs": cs,
        "rows": rows,
        "quorum": att.quorum(cs.board, rows, moment),
        "moment": moment,
        "cases": cases,
        "visible": visible_cases(cases),
        "pseudonyms": pseudonyms(cases),
        "recs": proto.recommendations_of(db(), cs),
        "signed": proto.versions(db(), cs),
        "proposals": proto.representation_proposals(db(), cs),
        "user": current_user(),
    }


def render_live(cs: ConferenceSession, *, error: str | None = None, status: int = 200, **forms: Any) -> Page:
    """The live page of a session (attendance, quorum, recommendations, signing), with ``forms`` as submitted."""
    user = current_user()
    checkin = forms.get("checkin") or CheckInForm(formdata=None)
    here = {a.user_id for a in att.list_attendance(db(), cs)}
    checkin.user.choices = [
        (u.id, f"{u.display_name} ({u.discipline.name if u.discipline else '—'})")
        for u in physicians()
        if u.id not in here
    ]
    return render_template(
        "attendance/live.html",
        **live_context(cs),
        error=error,
        checkin_form=checkin,
        external_form=forms.get("external") or ExternalCheckInForm(formdata=None),
        self_form=forms.get("self") or SelfCheckInForm(formdata=None),
        leave_form=LeaveForm(formdata=None),
        sign_form=SignForm(formdata=None),
        can_run=can_run_session(db(), user, cs),
        can_self=may_check_in_self(db(), user, cs) and user.id not in here,
        can_sign=moderates(db(), user, cs.board_id),
        can_read=can_read_protocol(user),
        board_role=board_role(db(), user, cs.board_id),
    ), status
