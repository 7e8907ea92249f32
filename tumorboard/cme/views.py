"""CME downloads of a session (issue 15): the chamber's CSV and the attendance list in the chamber's form."""

from __future__ import annotations

from flask import Blueprint, Response

from tumorboard.auth.permissions import can_view_attendance
from tumorboard.cme.services import cme_report
from tumorboard.conferences import services as conf
from tumorboard.exports.cme import render_cme_attendance_pdf, render_cme_csv
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import now, requires

bp = Blueprint("cme", __name__)


def _download(body: bytes, mimetype: str, name: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/sessions/<int:session_id>/cme.csv")
@requires(can_view_attendance)
def report_csv(session_id: int) -> Response:
    report = cme_report(db(), conf.get_session(db(), session_id))
    return _download(render_cme_csv(report), "text/csv; charset=utf-8", f"cme-{session_id}.csv")


@bp.route("/sessions/<int:session_id>/cme-anwesenheit.pdf")
@requires(can_view_attendance)
def attendance_pdf(session_id: int) -> Response:
    report = cme_report(db(), conf.get_session(db(), session_id))
    body = render_cme_attendance_pdf(report, templates=runtime().templates, generated_at=now())
    return _download(body, "application/pdf", f"cme-anwesenheit-{session_id}.pdf")
