"""Board membership (admin and coordinators), the Notfallzugriff form and the QM list of emergency accesses.
Thin: load, authorize, one service call, commit, respond."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from tumorboard.access import services as access
from tumorboard.access.forms import EmergencyForm, MemberForm
from tumorboard.access.permissions import can_list_emergency_accesses, can_manage_members
from tumorboard.auth.models import Role, User
from tumorboard.auth.permissions import can_view_schedule
from tumorboard.cases.models import Case
from tumorboard.cases.permissions import NeedsEmergencyAccess, can_request_emergency_access
from tumorboard.cases.services import get_case
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board
from tumorboard.errors import InvalidInput, TumorboardError
from tumorboard.i18n import N_
from tumorboard.web.errors import message, status_of
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, current_user, now, requires

bp = Blueprint("access", __name__)
Page = str | tuple[str, int] | Response


def _physicians() -> list[User]:
    return list(
        db().scalars(select(User).where(User.role == Role.PHYSICIAN, User.active.is_(True)).order_by(User.display_name))
    )


def _render_members(
    board: Board, *, form: MemberForm | None = None, error: str | None = None, status: int = 200
) -> Page:
    form = form or MemberForm(formdata=None)
    form.user.choices = [
        (u.id, f"{u.display_name} ({u.discipline.name if u.discipline else '—'})") for u in _physicians()
    ]
    return render_template(
        "access/members.html",
        board=board,
        members=access.members_of(db(), board),
        form=form,
        error=error,
        can_manage=can_manage_members(current_user()),
    ), status


@bp.route("/boards/<int:board_id>/members")
@requires(can_view_schedule)
def members(board_id: int) -> Page:
    """Who belongs to a board (staff names only, no patient data)."""
    return _render_members(conf.get_board(db(), board_id))


@bp.route("/boards/<int:board_id>/members", methods=["POST"])
@requires(can_manage_members)
def set_member(board_id: int) -> Page:
    board = conf.get_board(db(), board_id)
    form = MemberForm()
    form.user.choices = [(u.id, u.display_name) for u in _physicians()]
    if not form.validate_on_submit():
        return _render_members(board, form=form, error=_("Bitte die Eingaben prüfen."), status=422)
    try:
        user = db().get(User, form.user.data)
        if user is None:
            raise InvalidInput(N_("Diese Person gibt es nicht."), field="user")
        if form.role.data == "remove":
            access.remove_member(db(), board, user, at=now(), actor=current_actor())
        else:
            access.set_member(db(), board, user, form.role.data or "", at=now(), actor=current_actor())
    except TumorboardError as err:
        db().rollback()
        return _render_members(conf.get_board(db(), board_id), form=form, error=message(err), status=status_of(err))
    db().commit()
    flash(_("Mitglieder gespeichert."), "success")
    return redirect(url_for("access.members", board_id=board_id), 303)


def _safe_next(target: str | None, case: Case) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("cases.detail", case_id=case.id)


@bp.route("/cases/<int:case_id>/emergency", methods=["POST"])
@requires(can_request_emergency_access)
def emergency(case_id: int) -> Page:
    """Notfallzugriff: open a case outside one's need-to-know, with a reason (audited, listed for QM)."""
    case = get_case(db(), case_id)
    form = EmergencyForm()
    if not form.validate_on_submit():
        return _render_emergency(case, form=form, error=_("Bitte die Eingaben prüfen."), status=422)
    try:
        access.grant_emergency_access(db(), current_user(), case.id, reason=form.reason.data, at=now(),
                                      actor=current_actor())  # fmt: skip
    except TumorboardError as err:
        db().rollback()
        return _render_emergency(case, form=form, error=message(err), status=status_of(err))
    db().commit()
    flash(_("Notfallzugriff protokolliert (%(hours)s Stunden gültig).", hours=access.EMERGENCY_HOURS), "info")
    return redirect(_safe_next(form.next.data, case), 303)


def _render_emergency(case: Case, *, form: EmergencyForm | None = None, error: str | None = None,
                      status: int = 403) -> tuple[str, int]:  # fmt: skip
    form = form or EmergencyForm(formdata=None, next=request.full_path.rstrip("?") if request.method == "GET" else "")
    return render_template(
        "access/emergency.html",
        case_id=case.id,
        board=case.board,
        form=form,
        error=error,
        hours=access.EMERGENCY_HOURS,
        can_request=can_request_emergency_access(current_user()),
    ), status


@bp.app_errorhandler(NeedsEmergencyAccess)
def needs_emergency_access(err: NeedsEmergencyAccess) -> tuple[str, int]:
    """Every read of a case outside the need-to-know ends here: 403 with the Notfallzugriff form (no patient data)."""
    db().rollback()
    case = db().get(Case, err.case_id)
    assert case is not None
    return _render_emergency(case, error=message(err))


@bp.route("/qm/emergency")
@requires(can_list_emergency_accesses)
def emergency_list() -> Page:
    """The emergency accesses for QM: who, when, which case (pseudonymised), why."""
    rows = list(access.emergency_accesses(db()))
    cases = {c.id: c for c in db().scalars(select(Case).where(Case.id.in_({r.case_id for r in rows})))}
    secret = runtime().settings.secret_key
    pseudonyms = {cid: access.pseudonym(secret, c.patient_id) for cid, c in cases.items()}
    return render_template("access/emergency_list.html", rows=rows, cases=cases, pseudonyms=pseudonyms)
