"""Triage inbox (studies no rule could assign) and preview images. Thin: load, authorize, one service call."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response
from wtforms import IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange

from tumorboard.access.services import log_access
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.forms import EmptyForm
from tumorboard.auth.permissions import can_read_cases, can_triage_imaging
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.cases.permissions import authorize_case
from tumorboard.cases.services import cases_of_patients
from tumorboard.errors import NotFound, PermissionDenied, TumorboardError
from tumorboard.forms import BaseForm
from tumorboard.i18n import N_
from tumorboard.imaging import matching, services
from tumorboard.imaging.previews import preview_file_name
from tumorboard.patients.services import search_patients
from tumorboard.text import MAX_ID
from tumorboard.web.errors import message
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, current_user, now, requires

bp = Blueprint("imaging", __name__, url_prefix="/imaging")

Page = str | tuple[str, int] | Response


class AssignForm(BaseForm):
    case_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)])


class UnassignForm(BaseForm):
    pass


@bp.route("/triage")
@requires(can_triage_imaging)
def triage() -> Page:
    return _render_triage()


def _render_triage(*, search_study: int | None = None, query: str = "", found: list[Case] | None = None) -> Page:
    studies = matching.triage_inbox(db())
    case_ids = {s["case_id"] for st in studies for s in st.suggestions} | {c.id for c in found or []}
    if studies:  # the inbox shows patient data of the studies, the suggested cases and the cases searched for
        log_access(db(), tag=Tag.IMAGING_TRIAGE_VIEW, subject_type=SubjectType.INBOX, subject_id="-",
                   case_ids=sorted(case_ids), at=now(), actor=current_actor())  # fmt: skip
        db().commit()
    return render_template(
        "imaging/triage.html",
        studies=studies,
        cases=matching.cases_by_id(db(), case_ids),
        generated_instance_keys=services.generated_instance_keys(db(), [s.id for s in studies]),
        form=AssignForm(),
        search_study=search_study,
        query=query,
        found=found or [],
    )


@bp.route("/studies/<int:study_id>/search", methods=["POST"])
@requires(can_triage_imaging)
def search_cases(study_id: int) -> Page:
    """Find the case for a study by name, birth date or patient number instead of an internal number (issue 13).
    POST, so that no name lands in a URL; results show at the study."""
    study = services.get_study(db(), study_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    query = (request.form.get("q") or "").strip()[:100]
    patients = list(search_patients(db(), query)) if len(query) >= 2 else []
    found = [c for c in cases_of_patients(db(), [p.id for p in patients])
             if c.status in (CaseStatus.REGISTERED, CaseStatus.COMPLETE)]  # fmt: skip
    return _render_triage(search_study=study.id, query=query, found=found)


@bp.route("/studies/<int:study_id>/assign", methods=["POST"])
@requires(can_triage_imaging)
def assign(study_id: int) -> Page:
    study = services.get_study(db(), study_id)
    form = AssignForm()
    if not form.validate_on_submit():
        flash(_("Bitte einen Fall wählen."), "error")
        return redirect(url_for("imaging.triage"))
    case = db().get(Case, form.case_id.data)
    if case is None:  # issue 13: a message at the study, not a 404 page
        flash(_("Einen Fall mit dieser Nummer gibt es nicht."), "error")
        return redirect(url_for("imaging.triage") + f"#studie-{study.id}")
    try:
        matching.assign_study(db(), study, case, at=now(), actor=current_actor())
    except TumorboardError as err:
        db().rollback()
        flash(message(err), "error")
        return redirect(url_for("imaging.triage"))
    db().commit()
    flash(_("Studie dem Fall zugeordnet."), "success")
    return redirect(url_for("imaging.triage"))


class RejectForm(BaseForm):
    reason = StringField(validators=[Length(max=1000)])


@bp.route("/studies/<int:study_id>/reject", methods=["POST"])
@requires(can_triage_imaging)
def reject(study_id: int) -> Page:
    study = services.get_study(db(), study_id)
    form = RejectForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        # a reason with a control character or too long: the message at the study, not a bare 400 page
        flash(" ".join(str(e) for errs in form.errors.values() for e in errs), "error")
        return redirect(url_for("imaging.triage") + f"#studie-{study_id}")
    try:
        matching.reject_study(db(), study, reason=form.reason.data, at=now(), actor=current_actor())
    except TumorboardError as err:
        db().rollback()
        flash(message(err), "error")
        return redirect(url_for("imaging.triage") + f"#studie-{study_id}")
    db().commit()
    flash(_("Studie abgelehnt; sie ist aus dem Eingang und wird nach der Aufbewahrungsfrist gelöscht."), "success")
    return redirect(url_for("imaging.triage"))


@bp.route("/studies/<int:study_id>/unassign", methods=["POST"])
@requires(can_triage_imaging)
def unassign(study_id: int) -> Page:
    study = services.get_study(db(), study_id)
    if not UnassignForm().validate_on_submit():
        abort(400)
    matching.unassign_study(db(), study, at=now(), actor=current_actor())
    db().commit()
    flash(_("Zuordnung aufgehoben; die Studie liegt wieder im Eingang."), "success")
    return redirect(url_for("imaging.triage"))


@bp.route("/series/<int:series_id>/preview.png")
@requires(can_read_cases)
def preview(series_id: int) -> Page:
    series = services.get_series(db(), series_id)
    case = db().get(Case, series.study.case_id) if series.study.case_id is not None else None
    if case is None:
        if not can_triage_imaging(current_user()):
            raise PermissionDenied(N_("Bilder ohne Fall sieht nur die Koordination im Bildeingang."))
    else:
        authorize_case(db(), current_user(), case, now())
    name = preview_file_name(series)
    if name is None:
        raise NotFound(N_("Für diese Serie gibt es keine Vorschau."))
    path = runtime().store.preview_path(name)
    if not path.is_file():
        raise NotFound(N_("Für diese Serie gibt es keine Vorschau."))
    log_access(db(), tag=Tag.IMAGING_PREVIEW_VIEW, subject_type=SubjectType.SERIES, subject_id=series.id,
               case_ids=[case.id] if case else [], at=now(), actor=current_actor())  # fmt: skip
    db().commit()
    return send_file(path, mimetype="image/png", max_age=0)
