"""Recommendations per case, sign-off, amendments, protocol versions with their difference, follow-up and the
protocol PDFs. Thin: load, authorize, one service call, commit, respond."""

from __future__ import annotations

import itertools
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from tumorboard.access.permissions import moderates
from tumorboard.attendance import services as att
from tumorboard.attendance.pages import render_live
from tumorboard.attendance.permissions import can_run_session
from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.permissions import can_read_protocol, can_run_conference, can_sign_protocol
from tumorboard.cases.models import Case
from tumorboard.cases.permissions import CaseAccess, authorize_case, can_read_case
from tumorboard.cases.services import get_case
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import ConferenceSession
from tumorboard.errors import NotFound, PermissionDenied, TumorboardError
from tumorboard.i18n import N_
from tumorboard.protocol import services as proto
from tumorboard.protocol.forms import AmendForm, CorrectParticipantForm, FollowUpForm, RecommendationForm, SignForm
from tumorboard.protocol.models import THERAPY_TYPES, Recommendation
from tumorboard.protocol.permissions import can_read_session_protocol
from tumorboard.web.errors import message, status_of
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import confirm_password, current_actor, current_user, now, requires

bp = Blueprint("protocol", __name__)
Page = str | tuple[str, int] | BaseResponse


def _choices(form: RecommendationForm) -> None:
    form.therapy_types.choices = [(code, f"{code} – {_(label)}") for code, label in THERAPY_TYPES.items()]
    form.representation_board.choices = [(0, "—")] + [(b.id, b.name) for b in conf.list_boards(db())]


def _input(form: RecommendationForm) -> proto.RecommendationInput:
    return proto.RecommendationInput(
        therapy_types=form.therapy_types.data or [],
        text=form.text.data or "",
        trial_recommended=bool(form.trial_recommended.data),
        trial_name=form.trial_name.data,
        representation_wanted=bool(form.representation_wanted.data),
        representation_date=form.representation_date.data,
        representation_board_id=form.representation_board.data or None,
        guideline_deviation=bool(form.guideline_deviation.data),
        deviation_reason=form.deviation_reason.data,
    )


def _prefill(form: RecommendationForm, rec: Recommendation | None) -> None:
    if rec is None:
        return
    form.therapy_types.data = list(rec.therapy_types)
    form.text.data = rec.text
    form.trial_recommended.data = rec.trial_recommended
    form.trial_name.data = rec.trial_name
    form.representation_wanted.data = rec.representation_wanted
    form.representation_date.data = rec.representation_date
    form.representation_board.data = rec.representation_board_id or 0
    form.guideline_deviation.data = rec.guideline_deviation
    form.deviation_reason.data = rec.deviation_reason


def _log_access(case: Case) -> None:
    """Read the case's protocol: only within the need-to-know or as a Notfallzugriff; every read is logged."""
    access = authorize_case(db(), current_user(), case, now())
    record_event(db(), actor=current_actor(), tag=Tag.PROTOCOL_RECOMMENDATION_VIEW, subject_type=SubjectType.CASE,
                 subject_id=case.id, at=now(),
                 after={"emergency": True} if access is CaseAccess.EMERGENCY else None)  # fmt: skip


def _authorize_protocol(cs: ConferenceSession) -> None:
    if not can_read_session_protocol(db(), current_user(), cs):
        raise PermissionDenied(
            N_("Das Protokoll dieser Sitzung lesen die Koordination, das QM und die Mitglieder der Konferenz.")
        )


def _render(case: Case, *, error: str | None = None, status: int = 200, **forms: Any) -> tuple[str, int]:
    cs = case.session
    rec = proto.current_recommendation(db(), case)
    signed = proto.is_signed(db(), cs)
    form = forms.get("record") or RecommendationForm(formdata=None)
    amend = forms.get("amend") or AmendForm(formdata=None)
    _choices(form)
    _choices(amend)
    if "record" not in forms:
        _prefill(form, rec)
    if "amend" not in forms:
        _prefill(amend, rec)
    rows = list(att.list_attendance(db(), cs))
    correct = forms.get("correct") or CorrectParticipantForm(formdata=None)
    correct.attendance.choices = [(a.id, f"{a.name} ({a.discipline})") for a in rows]
    return render_template(
        "protocol/recommendation.html",
        case=case,
        cs=cs,
        rec=rec,
        signed=signed,
        quorum=att.quorum(cs.board, rows, now()),
        form=form,
        amend_form=amend,
        correct_form=correct,
        follow_form=forms.get("follow") or FollowUpForm(formdata=None),
        follow_up=proto.latest_follow_up(db(), case),
        therapy=THERAPY_TYPES,
        error=error,
        can_run=can_run_session(db(), current_user(), cs),
        can_sign=moderates(db(), current_user(), cs.board_id),
    ), status


@bp.route("/cases/<int:case_id>/recommendation")
@requires(can_read_protocol)
def recommendation(case_id: int) -> Page:
    case = get_case(db(), case_id)
    _log_access(case)
    db().commit()
    return _render(case)


def _act(case_id: int, key: str, form: Any, action: Any, done: str, *, choices: bool = False) -> Page:
    case = get_case(db(), case_id)
    if choices:
        _choices(form)
    if isinstance(form, CorrectParticipantForm):
        form.attendance.choices = [(a.id, a.name) for a in att.list_attendance(db(), case.session)]
    if not form.validate_on_submit():
        errors = [str(e) for errs in form.errors.values() for e in errs]
        return _render(case, error=" ".join(errors) or _("Bitte die Eingaben prüfen."), status=422, **{key: form})
    try:
        action(case, form)
    except TumorboardError as err:
        db().rollback()
        case = get_case(db(), case_id)
        if not can_read_case(db(), current_user(), case, now()):
            raise  # the error page, without the case's data
        return _render(case, error=message(err), status=status_of(err), **{key: form})
    db().commit()
    flash(done, "success")
    return redirect(url_for("protocol.recommendation", case_id=case_id), 303)


@bp.route("/cases/<int:case_id>/recommendation", methods=["POST"])
@requires(can_run_conference)
def record(case_id: int) -> Page:
    def action(case: Case, f: RecommendationForm) -> None:
        proto.record_recommendation(db(), case, _input(f), quorum_reason=f.quorum_reason.data, user=current_user(),
                                    at=now(), actor=current_actor())  # fmt: skip

    return _act(case_id, "record", RecommendationForm(), action, _("Empfehlung gespeichert."), choices=True)


@bp.route("/cases/<int:case_id>/recommendation/participants", methods=["POST"])
@requires(can_run_conference)
def correct(case_id: int) -> Page:
    def action(case: Case, f: CorrectParticipantForm) -> None:
        rec = proto.current_recommendation(db(), case)
        if rec is None:
            raise NotFound(N_("Für diesen Fall gibt es keine Empfehlung."))
        proto.correct_participant(db(), rec, att.get_attendance(db(), f.attendance.data), present=f.present.data == "1",
                                  reason=f.reason.data, at=now(), actor=current_actor())  # fmt: skip

    return _act(case_id, "correct", CorrectParticipantForm(), action, _("Anwesenheit korrigiert."))


@bp.route("/cases/<int:case_id>/recommendation/amend", methods=["POST"])
@requires(can_sign_protocol)
def amend(case_id: int) -> Page:
    def action(case: Case, f: AmendForm) -> None:
        confirm_password(f.password.data or "")
        proto.amend_recommendation(db(), case, _input(f), reason=f.reason.data, user=current_user(),
                                   password=f.password.data or "", render=_renderer(), at=now(),
                                   actor=current_actor())  # fmt: skip

    return _act(case_id, "amend", AmendForm(), action, _("Nachtrag unterschrieben."), choices=True)


@bp.route("/cases/<int:case_id>/followup", methods=["POST"])
@requires(can_run_conference)
def follow_up(case_id: int) -> Page:
    def action(case: Case, f: FollowUpForm) -> None:
        proto.record_follow_up(db(), case, status=f.status.data or "", cause=f.cause.data or None, note=f.note.data,
                               user=current_user(), at=now(), actor=current_actor())  # fmt: skip

    return _act(case_id, "follow", FollowUpForm(), action, _("Umsetzung erfasst."))


# --- sign-off and versions -----------------------------------------------------------------------------------------
def _renderer() -> proto.Renderer:
    from tumorboard.exports.protocol import render_protocol_pdf

    at, templates = now(), runtime().templates
    return lambda data: render_protocol_pdf(data, templates=templates, generated_at=at)


@bp.route("/sessions/<int:session_id>/protocol/sign", methods=["POST"])
@requires(can_sign_protocol)
def sign(session_id: int) -> Page:
    cs = conf.get_session(db(), session_id)
    form = SignForm()
    if not form.validate_on_submit():
        return render_live(cs, error=_("Bitte die Eingaben prüfen."), status=422)
    try:
        confirm_password(form.password.data or "")
        version = proto.sign_protocol(db(), cs, user=current_user(), password=form.password.data or "",
                                      render=_renderer(), at=now(), actor=current_actor())  # fmt: skip
    except TumorboardError as err:
        db().rollback()
        return render_live(conf.get_session(db(), session_id), error=message(err), status=status_of(err))
    db().commit()
    flash(_("Protokoll unterschrieben (Version %(n)s).", n=version.version), "success")
    return redirect(url_for("protocol.protocol", session_id=cs.id), 303)


def _diffs(cs: ConferenceSession) -> tuple[list[Any], list[tuple[int, list[str]]]]:
    found = list(proto.versions(db(), cs))
    return found, [(new.version, proto.version_diff(old, new)) for old, new in itertools.pairwise(found)]


@bp.route("/sessions/<int:session_id>/protocol")
@requires(can_read_protocol)
def protocol(session_id: int) -> Page:
    cs = conf.get_session(db(), session_id)
    _authorize_protocol(cs)
    found, diffs = _diffs(cs)
    record_event(db(), actor=current_actor(), tag=Tag.PROTOCOL_VIEW, subject_type=SubjectType.SESSION, subject_id=cs.id,
                 at=now())  # fmt: skip
    db().commit()
    return render_template("protocol/protocol.html", cs=cs, versions=found, diffs=diffs)


def _pdf(body: bytes, name: str) -> Response:
    return Response(body, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/sessions/<int:session_id>/protocol/v<int:number>.pdf")
@requires(can_read_protocol)
def version_pdf(session_id: int, number: int) -> Response:
    """The PDF exactly as signed (its SHA-256 is on the protocol page)."""
    cs = conf.get_session(db(), session_id)
    _authorize_protocol(cs)
    version = proto.get_version(db(), cs, number)
    record_event(db(), actor=current_actor(), tag=Tag.PROTOCOL_VERSION_DOWNLOAD, subject_type=SubjectType.SESSION,
                 subject_id=cs.id, at=now(), after={"version": number})  # fmt: skip
    db().commit()
    return _pdf(version.pdf, f"protokoll-{cs.id}-v{number}.pdf")


@bp.route("/sessions/<int:session_id>/protocol.pdf")
@requires(can_read_protocol)
def protocol_pdf(session_id: int) -> Response:
    """The current state: the newest signed version as stored, or a draft marked as such."""
    from tumorboard.exports.protocol import render_protocol_pdf

    cs = conf.get_session(db(), session_id)
    _authorize_protocol(cs)
    found = proto.versions(db(), cs)
    if found:
        return version_pdf(session_id, found[-1].version)
    record_event(db(), actor=current_actor(), tag=Tag.PROTOCOL_DRAFT_DOWNLOAD, subject_type=SubjectType.SESSION,
                 subject_id=cs.id, at=now())  # fmt: skip
    db().commit()
    return _pdf(
        render_protocol_pdf(proto.protocol_data(db(), cs), templates=runtime().templates, generated_at=now()),
        f"protokoll-{cs.id}-entwurf.pdf",
    )


@bp.route("/cases/<int:case_id>/recommendation.pdf")
@requires(can_read_protocol)
def case_pdf(case_id: int) -> Response:
    """The protocol of one case for the patient record (current revision, with signer and version)."""
    from tumorboard.exports.protocol import render_case_protocol_pdf

    case = get_case(db(), case_id)
    authorize_case(db(), current_user(), case, now())
    data = proto.protocol_data(db(), case.session)
    found = proto.versions(db(), case.session)
    if found:
        data.version, data.signed_at, data.signed_by, data.reason = (
            found[-1].version, found[-1].signed_at, found[-1].signed_by_name, found[-1].reason,
        )  # fmt: skip
    entry = next((e for e in data.entries if e.case.id == case.id), None)
    if entry is None:
        raise NotFound(N_("Dieser Fall steht nicht auf der Fallliste der Sitzung."))
    _log_access(case)
    db().commit()
    return _pdf(
        render_case_protocol_pdf(data, entry, templates=runtime().templates, generated_at=now()),
        f"empfehlung-{case.id}.pdf",
    )
