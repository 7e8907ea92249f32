"""CME downloads of a session (issue 15): the chamber's CSV and the attendance list in the chamber's form."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from tumorboard.attendance.services import list_attendance
from tumorboard.auth.models import Role, User
from tumorboard.auth.permissions import can_plan_sessions
from tumorboard.cme.models import EivSubmission
from tumorboard.cme.services import CATEGORIES, accreditation_for, cme_report, deadlines, set_accreditation
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import ConferenceSession
from tumorboard.errors import InvalidInput, TumorboardError
from tumorboard.exports.cme import render_cme_attendance_pdf, render_cme_csv
from tumorboard.i18n import N_, translate
from tumorboard.text import ascii_digits
from tumorboard.web.errors import message, status_of
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, current_user, now, requires

bp = Blueprint("cme", __name__)

Page = str | tuple[str, int] | BaseResponse


def can_view_cme(user: User) -> bool:
    """The CME page of a session: the organisers (coordination, admin) and QM."""
    return user.role in (Role.ADMIN, Role.COORDINATOR, Role.QM)


def _page(cs: ConferenceSession, *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    rows = list_attendance(db(), cs)
    submissions = {
        s.attendance_id: s for s in db().scalars(select(EivSubmission).where(EivSubmission.session_id == cs.id))
    }
    return render_template(
        "cme/session.html", cs=cs, rows=rows, submissions=submissions, accreditation=accreditation_for(db(), cs),
        deadlines=deadlines(cs), categories=CATEGORIES, error=error, form=request.form,
        can_edit=can_plan_sessions(current_user()), eiv_enabled=runtime().eiv.enabled,
    ), status  # fmt: skip


@bp.route("/sessions/<int:session_id>/cme")
@requires(can_view_cme)
def session_page(session_id: int) -> Page:
    return _page(conf.get_session(db(), session_id))


def _optional_date(name: str) -> dt.date | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(N_("Bitte ein gültiges Datum angeben."), field=name) from None


@bp.route("/sessions/<int:session_id>/cme", methods=["POST"])
@requires(can_plan_sessions)
def set_session_accreditation(session_id: int) -> Page:
    """The accreditation letter's data for this session (VNR, category, points, period)."""
    cs = conf.get_session(db(), session_id)
    try:
        points_raw = (request.form.get("points") or "").strip()
        if not ascii_digits(points_raw) or len(points_raw) > 2:
            raise InvalidInput(N_("Die Punktzahl liegt zwischen 0 und 99."), field="points")
        _row, warnings = set_accreditation(
            db(), cs=cs, vnr=request.form.get("vnr"), category=request.form.get("category") or "",
            points=int(points_raw), valid_from=_optional_date("valid_from"), valid_to=_optional_date("valid_to"),
            user=current_user(), at=now(), actor=current_actor(),
        )  # fmt: skip
    except TumorboardError as err:
        db().rollback()
        return _page(conf.get_session(db(), session_id), error=message(err), status=status_of(err))
    db().commit()
    for warning in warnings:
        flash(translate(warning, str(_get_locale())), "warning")
    flash(_("CME-Akkreditierung gespeichert."), "success")
    return redirect(url_for("cme.session_page", session_id=session_id), 303)


def _get_locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "de")


def _download(body: bytes, mimetype: str, name: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/sessions/<int:session_id>/cme.csv")
@requires(can_view_cme)  # EFNs of every attendee: the CME page's readers only
def report_csv(session_id: int) -> Response:
    report = cme_report(db(), conf.get_session(db(), session_id))
    return _download(render_cme_csv(report), "text/csv; charset=utf-8", f"cme-{session_id}.csv")


@bp.route("/sessions/<int:session_id>/cme-anwesenheit.pdf")
@requires(can_view_cme)
def attendance_pdf(session_id: int) -> Response:
    report = cme_report(db(), conf.get_session(db(), session_id))
    body = render_cme_attendance_pdf(report, templates=runtime().templates, generated_at=now())
    return _download(body, "application/pdf", f"cme-anwesenheit-{session_id}.pdf")
