"""The live session page: check-in and leaving, the live quorum, the cases with their recommendations, sign-off;
and the attendance exports (Teilnehmerliste PDF/CSV, CME certificate)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from tumorboard.attendance import services as att
from tumorboard.attendance.forms import (
    CheckInForm,
    CorrectForm,
    ExternalCheckInForm,
    LeaveForm,
    SelfCheckInForm,
    UndoForm,
)
from tumorboard.attendance.models import Attendance
from tumorboard.attendance.pages import physicians, render_live
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.models import Role, User
from tumorboard.auth.permissions import (
    can_check_in_self,
    can_read_protocol,
    can_run_conference,
    can_view_attendance,
)
from tumorboard.cases.pages import log_list_access, visible_cases
from tumorboard.cases.services import session_cases
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import ConferenceSession
from tumorboard.errors import InvalidInput, PermissionDenied, TumorboardError
from tumorboard.i18n import N_
from tumorboard.protocol import services as proto
from tumorboard.web.errors import message, status_of
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, current_user, now, requires

bp = Blueprint("attendance", __name__)
Page = str | tuple[str, int] | BaseResponse


def at_time(cs: ConferenceSession, text: str | None) -> dt.datetime | None:
    """ "HH:MM" on the session's Berlin day, as UTC; None for empty."""
    if not text or not text.strip():
        return None
    try:
        hours, minutes = (int(x) for x in text.strip().split(":"))
        local = dt.datetime.combine(cs.local_start.date(), dt.time(hours, minutes), tzinfo=BERLIN)
    except ValueError:
        raise InvalidInput(N_("Bitte die Uhrzeit als HH:MM angeben."), field="time") from None
    return local.astimezone(dt.UTC)


@bp.route("/sessions/<int:session_id>/live")
@requires(can_view_attendance)
def live(session_id: int) -> Page:
    cs = conf.get_session(db(), session_id)
    page = render_live(cs)
    if can_read_protocol(current_user()):
        cases = list(session_cases(db(), cs))
        log_list_access(Tag.ATTENDANCE_LIVE_VIEW, SubjectType.SESSION, cs.id, cases, visible_cases(cases))
        db().commit()
    return page


@bp.route("/sessions/<int:session_id>/quorum")
@requires(can_view_attendance)
def quorum_fragment(session_id: int) -> Page:
    """The quorum panel alone, polled by static/live.js (no patient data in it)."""
    cs = conf.get_session(db(), session_id)
    rows = list(att.list_attendance(db(), cs))
    return render_template("attendance/_quorum.html", quorum=att.quorum(cs.board, rows, now()), rows=rows, moment=now())


def _act(cs: ConferenceSession, key: str, form: Any, action: Any, done: str, **extra: Any) -> Page:
    """Validate, run one service call, commit; an error renders the page with the form as submitted. ``action`` may
    return a warning, flashed after the success message (e.g. a discipline that does not count for the quorum)."""
    if not form.validate_on_submit():
        errors = [str(e) for errs in form.errors.values() for e in errs]
        return render_live(
            cs, error=" ".join(errors) or _("Bitte die Eingaben prüfen."), status=422, **{key: form}, **extra
        )
    try:
        warning = action(form)
    except TumorboardError as err:
        db().rollback()
        cs = conf.get_session(db(), cs.id)
        return render_live(cs, error=message(err), status=status_of(err), **{key: form}, **extra)
    db().commit()
    flash(done, "success")
    if warning:
        flash(warning, "warning")
    return redirect(url_for("attendance.live", session_id=cs.id) + "#teilnehmer", 303)


def _quorum_warning(row: Attendance) -> str | None:
    if row.counts_for_quorum:
        return None
    text: str = _(
        "„%(discipline)s“ steht nicht in der Liste der Fachrichtungen und zählt nicht für das Quorum.",
        discipline=row.counts_for,
    )
    return text


@bp.route("/sessions/<int:session_id>/attendance", methods=["POST"])
@requires(can_run_conference)
def check_in(session_id: int) -> Page:
    cs = conf.get_session(db(), session_id)
    form = CheckInForm()
    form.user.choices = [(u.id, u.display_name) for u in physicians()]

    def action(f: CheckInForm) -> None:
        user = db().get(User, f.user.data)
        if user is None:
            raise InvalidInput(N_("Diese Person gibt es nicht."), field="user")
        att.check_in(
            db(), cs, user=user, mode=f.mode.data, arrived_at=at_time(cs, f.arrived_at.data),
            stands_in_for_name=f.stands_in_for_name.data, stands_in_for_discipline=f.stands_in_for_discipline.data,
            recorded_by=current_user(), signed=proto.is_signed(db(), cs), at=now(), actor=current_actor(),
        )  # fmt: skip

    return _act(cs, "checkin", form, action, _("Eingecheckt."))


@bp.route("/sessions/<int:session_id>/attendance/external", methods=["POST"])
@requires(can_run_conference)
def check_in_external(session_id: int) -> Page:
    cs = conf.get_session(db(), session_id)

    def action(f: ExternalCheckInForm) -> str | None:
        row = att.check_in(
            db(), cs, user=None, name=f.name.data, institution=f.institution.data, discipline=f.discipline.data,
            other_discipline=f.other_discipline.data, efn=f.efn.data, mode=f.mode.data,
            arrived_at=at_time(cs, f.arrived_at.data),
            stands_in_for_name=f.stands_in_for_name.data, stands_in_for_discipline=f.stands_in_for_discipline.data,
            recorded_by=current_user(), signed=proto.is_signed(db(), cs), at=now(), actor=current_actor(),
        )  # fmt: skip
        return _quorum_warning(row)

    return _act(cs, "external", ExternalCheckInForm(), action, _("Externe Person eingecheckt."))


@bp.route("/sessions/<int:session_id>/attendance/self", methods=["POST"])
@requires(can_check_in_self)
def check_in_self(session_id: int) -> Page:
    cs = conf.get_session(db(), session_id)

    def action(f: SelfCheckInForm) -> None:
        att.check_in(
            db(), cs, user=current_user(), mode=f.mode.data, arrived_at=at_time(cs, f.arrived_at.data),
            stands_in_for_name=f.stands_in_for_name.data, stands_in_for_discipline=f.stands_in_for_discipline.data,
            recorded_by=current_user(), signed=proto.is_signed(db(), cs), at=now(), actor=current_actor(),
        )  # fmt: skip

    return _act(cs, "self", SelfCheckInForm(), action, _("Sie sind eingecheckt."))


@bp.route("/attendance/<int:attendance_id>/leave", methods=["POST"])
@requires(can_view_attendance)
def leave(attendance_id: int) -> Page:
    row = att.get_attendance(db(), attendance_id)  # who may: attendance.permissions, checked by the service
    cs = row.session

    def action(f: LeaveForm) -> None:
        att.leave(db(), row, left_at=at_time(cs, f.left_at.data), signed=proto.is_signed(db(), cs), at=now(),
                  actor=current_actor())  # fmt: skip

    return _act(cs, "leave", LeaveForm(), action, _("Gehen erfasst."))


@bp.route("/attendance/<int:attendance_id>/correct", methods=["POST"])
@requires(can_run_conference)
def correct(attendance_id: int) -> Page:
    row = att.get_attendance(db(), attendance_id)  # coordinator or the board's moderation: checked by the service
    cs = row.session

    def action(f: CorrectForm) -> str | None:
        att.correct_attendance(
            db(), row, arrived_at=at_time(cs, f.arrived_at.data), left_at=at_time(cs, f.left_at.data),
            mode=f.mode.data, discipline=f.discipline.data, other_discipline=f.other_discipline.data,
            reason=f.reason.data, signed=proto.is_signed(db(), cs), at=now(), actor=current_actor(),
        )  # fmt: skip
        return _quorum_warning(row)

    return _act(cs, "correct", CorrectForm(), action, _("Check-in korrigiert."), correct_id=row.id)


@bp.route("/attendance/<int:attendance_id>/undo", methods=["POST"])
@requires(can_run_conference)
def undo(attendance_id: int) -> Page:
    row = att.get_attendance(db(), attendance_id)
    cs = row.session

    def action(f: UndoForm) -> None:
        att.undo_check_in(
            db(), row, reason=f.reason.data, signed=proto.is_signed(db(), cs), listed=proto.is_listed(db(), row),
            at=now(), actor=current_actor(),
        )  # fmt: skip

    return _act(cs, "undo", UndoForm(), action, _("Check-in zurückgenommen."), undo_id=row.id)


# --- exports -------------------------------------------------------------------------------------------------------
def _download(body: bytes, mimetype: str, name: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/sessions/<int:session_id>/attendance.pdf")
@requires(can_view_attendance)
def attendance_pdf(session_id: int) -> Response:
    from tumorboard.exports.attendance import render_attendance_pdf

    cs = conf.get_session(db(), session_id)
    body = render_attendance_pdf(cs, att.list_attendance(db(), cs), templates=runtime().templates, generated_at=now())
    return _download(body, "application/pdf", f"teilnehmerliste-{cs.id}.pdf")


@bp.route("/sessions/<int:session_id>/attendance.csv")
@requires(can_view_attendance)
def attendance_csv(session_id: int) -> Response:
    from tumorboard.exports.attendance import render_attendance_csv

    cs = conf.get_session(db(), session_id)
    body = render_attendance_csv(att.list_attendance(db(), cs))
    return _download(body, "text/csv; charset=utf-8", f"teilnehmerliste-{cs.id}.csv")


@bp.route("/attendance/<int:attendance_id>/cme.pdf")
@requires(can_view_attendance)
def cme_pdf(attendance_id: int) -> Response:
    """The CME certificate: for the physician themself, or for coordination / QM / admin."""
    from tumorboard.exports.attendance import render_cme_pdf

    row: Attendance = att.get_attendance(db(), attendance_id)
    user = current_user()
    if row.user_id != user.id and user.role is Role.PHYSICIAN:
        raise PermissionDenied(N_("Die Teilnahmebescheinigung erhält nur die Person selbst."))
    from tumorboard.cme.services import accreditation_for, cme_report
    from tumorboard.exports.cme import render_cme_certificate

    accreditation = accreditation_for(db(), row.session)
    if accreditation is not None and accreditation.vnr:  # with VNR, points, category and the chamber's sentence
        report = cme_report(db(), row.session)
        body = render_cme_certificate(report, row, templates=runtime().templates, generated_at=now())
    else:
        body = render_cme_pdf(row.session, row, templates=runtime().templates, generated_at=now())
    return _download(body, "application/pdf", f"teilnahmebescheinigung-{row.id}.pdf")
