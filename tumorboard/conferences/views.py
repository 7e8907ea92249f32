"""Overview, boards, sessions and the clash view. Thin: load, authorize, one service call, commit."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from itertools import groupby
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.permissions import can_plan_sessions, can_view_schedule
from tumorboard.cases import services as cases_services
from tumorboard.cases.pages import case_list_context, log_list_access
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.forms import BoardForm, CancelForm, ExtraSessionForm, MoveForm, ReinstateForm
from tumorboard.conferences.models import Board, ConferenceSession, HolidayPolicy
from tumorboard.conferences.outcome import rhythm_of
from tumorboard.conferences.pages import worklist
from tumorboard.conferences.quorum import parse_quorum
from tumorboard.errors import TumorboardError
from tumorboard.exports.ical import render_calendar
from tumorboard.web.errors import message, status_of
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, current_user, now, requires

bp = Blueprint("conferences", __name__)

Page = str | tuple[str, int] | Response


def _today() -> dt.date:
    return now().astimezone(BERLIN).date()


def _horizon() -> tuple[dt.datetime, dt.datetime]:
    today = _today()
    return conf.day_range(today, today + dt.timedelta(weeks=runtime().settings.horizon_weeks))


@bp.route("/")
@requires(can_view_schedule)
def overview() -> Page:
    start, end = _horizon()
    boards = conf.list_boards(db())
    sessions = conf.sessions_between(db(), start, end)
    next_by_board: dict[int, ConferenceSession] = {}
    for cs in sessions:
        if cs.takes_place and cs.starts_at >= now():
            next_by_board.setdefault(cs.board_id, cs)
    weeks = [(key, list(rows)) for key, rows in groupby(sessions, key=lambda cs: cs.local_start.isocalendar()[:2])]
    return render_template(
        "conferences/overview.html",
        boards=boards,
        next_by_board=next_by_board,
        weeks=weeks,
        at=now(),
        **worklist(db(), current_user(), at=now()),
    )


@bp.route("/boards/<int:board_id>")
@requires(can_view_schedule)
def board_detail(board_id: int) -> Page:
    board = conf.get_board(db(), board_id)
    return _render_board(board)


def _render_board(
    board: Board, *, extra_form: ExtraSessionForm | None = None, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    from tumorboard.qm.services import session_outcomes

    start, end = _horizon()
    sessions = conf.sessions_between(db(), start, end, board=board)
    # Past sessions of the last year with their outcome (issue 11), newest first.
    past = [
        cs
        for cs in conf.sessions_between(db(), start - dt.timedelta(weeks=52), start, board=board)
        if cs.ends_at <= now()
    ][::-1]
    outcomes = session_outcomes(db(), [*sessions, *past], now=now())
    return render_template(
        "conferences/board.html",
        board=board,
        sessions=sessions,
        past=past,
        outcomes=outcomes,
        rhythm=rhythm_of(board),
        board_end=(
            dt.datetime.combine(dt.date(2000, 1, 3), board.start_time) + dt.timedelta(minutes=board.duration_minutes)
        ).time(),
        quorum=conf.quorum_of(board),
        extra_form=extra_form or ExtraSessionForm(),
        error=error,
        can_plan=can_plan_sessions(current_user()),
    ), status


@bp.route("/boards/<int:board_id>/sessions", methods=["POST"])
@requires(can_plan_sessions)
def add_session(board_id: int) -> Page:
    board = conf.get_board(db(), board_id)
    form = ExtraSessionForm()
    if not form.validate_on_submit():
        return _render_board(board, extra_form=form, error=_("Bitte die markierten Felder prüfen."), status=422)
    try:
        cs = conf.add_extra_session(
            db(),
            board,
            day=form.date.data,
            start=form.start.data,
            duration_minutes=form.duration_minutes.data,
            note=form.note.data,
            at=now(),
            actor=current_actor(),
        )
    except TumorboardError as err:
        db().rollback()
        return _render_board(board, extra_form=form, error=message(err), status=status_of(err))
    db().commit()
    flash(_("Sondersitzung angelegt."), "success")
    return redirect(url_for("conferences.session_detail", session_id=cs.id), 303)


@bp.route("/boards/<int:board_id>/edit", methods=["GET", "POST"])
@requires(can_plan_sessions)
def edit_board(board_id: int) -> Page:
    board = conf.get_board(db(), board_id)
    form = BoardForm(obj=board) if request.method == "GET" else BoardForm()
    if request.method == "GET":
        form.holiday_policy.data = board.holiday_policy.value
        form.quorum.data = conf.quorum_text(board)
    error = None
    if form.validate_on_submit():
        try:
            data = conf.BoardInput(
                name=form.name.data or "",
                short_name=form.short_name.data or "",
                center=form.center.data or "",
                rrule=form.rrule.data or "",
                series_start=form.series_start.data,
                start_time=form.start_time.data,
                duration_minutes=form.duration_minutes.data,
                room=form.room.data or "",
                video_url=form.video_url.data or "",
                deadline_working_days=form.deadline_working_days.data,
                deadline_time=form.deadline_time.data,
                holiday_policy=HolidayPolicy(form.holiday_policy.data),
                quorum=parse_quorum(form.quorum.data or ""),
            )
            conf.update_board(
                db(), board, data, at=now(), actor=current_actor(), horizon_weeks=runtime().settings.horizon_weeks
            )
        except TumorboardError as err:
            db().rollback()
            error = message(err)
            return render_template("conferences/board_edit.html", board=board, form=form, error=error), status_of(err)
        db().commit()
        flash(_("Konferenz gespeichert."), "success")
        return redirect(url_for("conferences.board_detail", board_id=board.id), 303)
    status = 200
    if request.method == "POST":
        error, status = _("Bitte die markierten Felder prüfen."), 422
    return render_template("conferences/board_edit.html", board=board, form=form, error=error), status


@bp.route("/sessions/<int:session_id>")
@requires(can_view_schedule)
def session_detail(session_id: int) -> Page:
    page = _render_session(conf.get_session(db(), session_id), log=True)
    db().commit()  # the access event of the case list
    return page


def _render_session(
    cs: ConferenceSession,
    *,
    forms: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
    log: bool = False,
) -> tuple[str, int]:
    forms = forms or {}
    move = forms.get("move") or MoveForm(
        formdata=None,
        date=cs.local_start.date(),
        start=cs.local_start.time(),
        duration_minutes=int((cs.ends_at - cs.starts_at).total_seconds() // 60),
    )
    context = case_list_context(cs)
    movable = cases_services.movable_cases(db(), cs) if context["can_manage"] and cs.takes_place else []
    if log and context["can_read_cases"]:
        log_list_access(Tag.CASE_LIST_VIEW, SubjectType.SESSION, cs.id, context["cases"], context["visible"])
    return render_template(
        "conferences/session.html",
        **context,
        cs=cs,
        deadline=conf.registration_deadline(cs),
        cancel_form=forms.get("cancel") or CancelForm(formdata=None),
        move_form=move,
        reinstate_form=forms.get("reinstate") or ReinstateForm(formdata=None),
        error=error,
        error_form=next(iter(forms), None),
        can_plan=can_plan_sessions(current_user()),
        is_past=cs.starts_at <= now(),
        movable=movable,
        next_session=cases_services.next_session_after(db(), cs, at=now(), generate=False) if movable else None,
        target_choices=cases_services.target_choices(db(), cs, at=now()) if movable else [],
    ), status


def _session_action(session_id: int, key: str, form: Any, action: Any, done: str) -> Page:
    cs = conf.get_session(db(), session_id)
    if not form.validate_on_submit():
        return _render_session(cs, forms={key: form}, error=_("Bitte die markierten Felder prüfen."), status=422)
    try:
        action(cs, form)
    except TumorboardError as err:
        db().rollback()
        cs = conf.get_session(db(), session_id)
        return _render_session(cs, forms={key: form}, error=message(err), status=status_of(err))
    db().commit()
    flash(done, "success")
    return redirect(url_for("conferences.session_detail", session_id=cs.id), 303)


@bp.route("/sessions/<int:session_id>/cancel", methods=["POST"])
@requires(can_plan_sessions)
def cancel_session(session_id: int) -> Page:
    return _session_action(
        session_id,
        "cancel",
        CancelForm(),
        lambda cs, f: cases_services.cancel_session_with_cases(
            db(),
            cs,
            reason=f.reason.data,
            disposition=f.cases.data,
            target_id=f.target_id(),
            at=now(),
            actor=current_actor(),
        ),
        _("Sitzung abgesagt. Abonnierte Kalender zeigen sie als abgesagt."),
    )


@bp.route("/sessions/<int:session_id>/reinstate", methods=["POST"])
@requires(can_plan_sessions)
def reinstate_session(session_id: int) -> Page:
    return _session_action(
        session_id,
        "reinstate",
        ReinstateForm(),
        lambda cs, f: conf.reinstate_session(db(), cs, reason=f.reason.data, at=now(), actor=current_actor()),
        _("Sitzung findet wieder statt."),
    )


@bp.route("/sessions/<int:session_id>/move", methods=["POST"])
@requires(can_plan_sessions)
def move_session(session_id: int) -> Page:
    return _session_action(
        session_id,
        "move",
        MoveForm(),
        lambda cs, f: cases_services.move_session_with_cases(
            db(),
            cs,
            day=f.date.data,
            start=f.start.data,
            reason=f.reason.data,
            disposition=f.cases.data,
            target_id=f.target_id(),
            duration_minutes=f.duration_minutes.data,
            at=now(),
            actor=current_actor(),
        ),
        _("Sitzung verschoben."),
    )


@bp.route("/sessions/<int:session_id>/calendar.ics")
@requires(can_view_schedule)
def session_ics(session_id: int) -> Response:
    cs = conf.get_session(db(), session_id)
    body = render_calendar(
        [cs],
        name=_("Tumorkonferenz %(board)s", board=cs.board.short_name),
        generated_at=now(),
        locale=current_user().locale,
    )
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="tumorkonferenz-{cs.id}.ics"'},
    )


@bp.route("/clashes")
@requires(can_view_schedule)
def clashes() -> Page:
    start, end = _horizon()
    found = conf.find_clashes(db(), start, end)
    by_pair: dict[tuple[str, str], int] = defaultdict(int)
    for c in found:
        by_pair[(c.first.board.short_name, c.second.board.short_name)] += 1
    return render_template("conferences/clashes.html", clashes=found, by_pair=dict(by_pair))
