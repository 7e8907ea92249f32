"""The live page of a session, shared by the attendance views (check-in, leaving) and the protocol views (signing):
who is here, the quorum, the recommendations so far and the signature form. A page part, not a route: the routes stay
in each domain's views."""

from __future__ import annotations

from typing import Any

from flask import render_template
from werkzeug.wrappers import Response as BaseResponse

from tumorboard.access.permissions import board_role, moderates
from tumorboard.access.services import members_of
from tumorboard.attendance import services as att
from tumorboard.attendance.forms import (
    CheckInForm,
    CorrectForm,
    ExternalCheckInForm,
    LeaveForm,
    SelfCheckInForm,
    UndoForm,
)
from tumorboard.attendance.permissions import can_check_in_self as may_check_in_self
from tumorboard.attendance.permissions import can_run_session
from tumorboard.auth.models import User
from tumorboard.auth.permissions import can_read_protocol
from tumorboard.auth.services import active_physicians
from tumorboard.cases.pages import pseudonyms, visible_cases
from tumorboard.cases.services import session_cases
from tumorboard.clock import BERLIN
from tumorboard.conferences.models import ConferenceSession
from tumorboard.disciplines.services import list_disciplines
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


def discipline_choices(*, other: bool) -> list[tuple[str, str]]:
    """The centre's discipline list as select choices; with ``other`` the "sonstige" entry (never counts)."""
    from flask_babel import gettext as _

    rows = [(d.name, d.name) for d in list_disciplines(db())]
    return [*rows, (att.OTHER, _("sonstige (Freitext)"))] if other else rows


def expected_participants(cs: ConferenceSession, rows: list[Any]) -> list[User]:
    """Board members and the session's presenters who are not present now: checked in with one click."""
    present = {a.user_id for a in rows if a.user_id is not None and a.left_at is None}
    people: dict[int, User] = {}
    for member in members_of(db(), cs.board):
        people.setdefault(member.user.id, member.user)
    for case in session_cases(db(), cs):
        if case.presenter is not None:
            people.setdefault(case.presenter.id, case.presenter)
    return [u for uid, u in people.items() if uid not in present and u.active and u.discipline is not None]


def render_live(cs: ConferenceSession, *, error: str | None = None, status: int = 200, **forms: Any) -> Page:
    """The live page of a session (attendance, quorum, recommendations, signing), with ``forms`` as submitted."""
    user = current_user()
    checkin = forms.get("checkin") or CheckInForm(formdata=None)
    rows = list(att.list_attendance(db(), cs))
    here = {a.user_id for a in rows if a.left_at is None}
    checkin.user.choices = [
        (u.id, f"{u.display_name} ({u.discipline.name if u.discipline else '—'})")
        for u in physicians()
        if u.id not in here
    ]
    external = forms.get("external") or ExternalCheckInForm(formdata=None)
    external.discipline.choices = [("", "–"), *discipline_choices(other=True)]
    self_form = forms.get("self") or SelfCheckInForm(formdata=None)
    for form in (checkin, external, self_form):
        form.stands_in_for_discipline.choices = [("", "–"), *discipline_choices(other=False)]
    latest: dict[tuple[object, ...], Any] = {}
    for a in rows:  # in order of arrival: the last row of each person wins
        latest[("user", a.user_id) if a.user_id else ("guest", a.name.casefold(), a.institution.casefold())] = a
    returnable = {a.id for a in latest.values() if a.left_at is not None}
    first, last = att.arrival_window(cs)
    correct_forms = {}
    for a in rows:
        form = CorrectForm(
            formdata=None,
            arrived_at=a.arrived_at.astimezone(BERLIN).strftime("%H:%M"),
            left_at=a.left_at.astimezone(BERLIN).strftime("%H:%M") if a.left_at else "",
            mode=a.mode.value,
            discipline=a.discipline,
        )
        form.discipline.choices = discipline_choices(other=True)
        if a.discipline not in {c[0] for c in form.discipline.choices}:
            form.discipline.choices = [(a.discipline, a.discipline), *form.discipline.choices]
        correct_forms[a.id] = form
    key = forms.get("correct_id")
    if key is not None and forms.get("correct") is not None:
        forms["correct"].discipline.choices = correct_forms[key].discipline.choices if key in correct_forms else []
        correct_forms[key] = forms["correct"]
    return render_template(
        "attendance/live.html",
        **live_context(cs),
        error=error,
        checkin_form=checkin,
        external_form=external,
        self_form=self_form,
        leave_form=LeaveForm(formdata=None),
        correct_forms=correct_forms,
        undo_form=forms.get("undo") or UndoForm(formdata=None),
        error_row=forms.get("correct_id") or forms.get("undo_id"),
        expected=expected_participants(cs, rows),
        returnable=returnable,
        window=(first, last),
        sign_form=SignForm(formdata=None),
        can_run=can_run_session(db(), user, cs),
        can_self=may_check_in_self(db(), user, cs) and user.id not in here,
        can_sign_now=now() >= cs.starts_at,
        can_sign=moderates(db(), user, cs.board_id),
        can_read=can_read_protocol(user),
        board_role=board_role(db(), user, cs.board_id),
    ), status
