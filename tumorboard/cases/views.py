"""Case registration, the case list of a session, case pages, search and "my cases"."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse
from wtforms.fields.choices import SelectChoice

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.forms import EmptyForm
from tumorboard.auth.models import Role, User
from tumorboard.auth.permissions import (
    can_manage_case_list,
    can_read_cases,
    can_register_case,
    can_triage_imaging,
)
from tumorboard.auth.services import active_physicians
from tumorboard.cases import checklist
from tumorboard.cases import services as cases
from tumorboard.cases.agenda import versions as agenda_versions
from tumorboard.cases.documents import DocumentStore, add_document, download_name
from tumorboard.cases.forms import (
    ChecklistConfigForm,
    DocumentForm,
    EditCaseForm,
    MoveCaseForm,
    OrderForm,
    PresenterForm,
    ReasonForm,
    RegisterCaseForm,
    RegistryDataForm,
    StatusForm,
)
from tumorboard.cases.models import Case, CaseDocument, CaseStatus
from tumorboard.cases.pages import log_list_access
from tumorboard.cases.permissions import CaseAccess, authorize_case, case_access, sees_board_patients
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import ConferenceSession
from tumorboard.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TumorboardError
from tumorboard.i18n import N_
from tumorboard.imaging import matching as imaging
from tumorboard.imaging import services as imaging_services
from tumorboard.imaging.models import ImagingStudy, StudyState
from tumorboard.imaging.summaries import ImagingSummary, imaging_complete, imaging_summaries
from tumorboard.partners.services import active_partners
from tumorboard.patients.services import search_patients, update_registry_data
from tumorboard.text import parse_id
from tumorboard.web.errors import message, status_of
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, current_user, now, requires

bp = Blueprint("cases", __name__)
Page = str | tuple[str, int] | BaseResponse


def document_store() -> DocumentStore:
    return DocumentStore(runtime().settings.instance_path / "documents")


def _physicians() -> list[User]:
    return list(active_physicians(db()))


def _upcoming(board_id: int | None = None) -> list[ConferenceSession]:
    today = now().astimezone(BERLIN).date()
    start, end = conf.day_range(today, today + dt.timedelta(weeks=runtime().settings.horizon_weeks))
    board = conf.get_board(db(), board_id) if board_id else None
    return [
        cs for cs in conf.sessions_between(db(), start, end, board=board) if cs.takes_place and cs.starts_at > now()
    ]


def imaging_for(case_ids: list[int]) -> dict[int, ImagingSummary]:
    """Imaging status per case (one query for the whole list)."""
    return imaging_summaries(db(), case_ids)


def _log_access(tag: Tag, subject_type: SubjectType, subject_id: int | str, **after: Any) -> None:
    """Access to patient data is logged (GDPR Art. 9 need-to-know; requirements.md)."""
    record_event(
        db(),
        actor=current_actor(),
        tag=tag,
        subject_type=subject_type,
        subject_id=subject_id,
        at=now(),
        after=after or None,
    )


# --- registration ------------------------------------------------------------------------------------------------
def _register_form(*, fresh: bool) -> RegisterCaseForm:
    """``fresh``: the form is shown for the first time (GET, or the triage's prefill POST) — defaults apply."""
    form = RegisterCaseForm()
    boards = conf.list_boards(db())
    form.board.choices = [(b.id, b.name) for b in boards]
    form.referring_partner.choices = [(0, _("eigenes Haus"))] + [(p.id, p.name) for p in active_partners(db())]
    form.presenter.choices = [(0, "—")] + [(u.id, u.display_name) for u in _physicians()]
    # only an id of a listed board is looked up (an out-of-range number would overflow PostgreSQL's INTEGER)
    known = {b.id for b in boards}
    wanted = (form.board.data, request.args.get("board", type=int))
    board_id = next((b for b in wanted if b in known), boards[0].id if boards else None)
    form.session.choices = [SelectChoice("0", _("nächste Sitzung mit offenem Anmeldeschluss"))]
    if can_manage_case_list(current_user()) and board_id:
        # Every board's sessions, each marked with its board: static/register.js shows those of the chosen board,
        # so changing the board no longer leaves the first board's sessions in the list (issue 13); a session of
        # another board is refused by the service with its own message.
        for cs in _upcoming():
            deadline = conf.registration_deadline(cs)
            label = cs.local_start.strftime("%d.%m.%Y %H:%M")
            if deadline <= now():
                label += " — " + _("Anmeldeschluss vorbei: Nachmeldung")
            render = {"data-board": str(cs.board_id)} | ({} if cs.board_id == board_id else {"hidden": True})
            form.session.choices.append(SelectChoice(str(cs.id), label, render_kw=render))
    if fresh:
        form.board.data = board_id
        user = current_user()
        if user.role is Role.PHYSICIAN:
            form.presenter.data = user.id
    return form


@bp.route("/cases/new", methods=["GET", "POST"])
@requires(can_register_case)
def register() -> Page:
    prefill = request.method == "POST" and request.form.get("prefill") == "1"
    form = _register_form(fresh=request.method == "GET" or prefill)
    try:
        study = _study_to_take_over(form)
    except (Conflict, InvalidInput) as err:
        if prefill:
            raise
        # Assigned or purged while the form was being filled in: say so, keep what was typed, drop the study.
        form.from_study.data, form.from_study.raw_data = None, []
        page = render_template("cases/register.html", form=form, duplicates=[], error=message(err), study=None)
        return page, status_of(err)
    if prefill:
        # The triage's one click ("Neuen Fall aus dieser Studie"): a POST, so that no patient data travels in a
        # URL; the form comes back filled with what the study carries, to be checked and completed.
        if study is None:
            raise NotFound(N_("Diese Studie gibt es nicht."))
        for key, value in imaging.registration_prefill(study).items():
            getattr(form, key).data = value
        return render_template("cases/register.html", form=form, duplicates=[], error=None, study=study)
    if form.validate_on_submit():
        try:
            case = cases.register_case(
                db(), _registration(form), registered_by=current_user(), at=now(), actor=current_actor()
            )
            if study is not None:
                # The study stays imaging's to assign (imaging depends on cases, not the other way round).
                imaging.assign_study(db(), study, case, at=now(), actor=current_actor())
        except cases.DuplicateRegistration as duplicate:
            db().rollback()
            page = render_template(
                "cases/register.html", form=form, duplicates=duplicate.cases, error=None, study=study
            )
            return page, 409
        except TumorboardError as err:
            db().rollback()
            page = render_template("cases/register.html", form=form, duplicates=[], error=message(err), study=study)
            return page, status_of(err)
        db().commit()
        when = case.session.local_start.strftime("%d.%m.%Y %H:%M")
        flash(_("Fall angemeldet für %(board)s am %(when)s.", board=case.board.short_name, when=when), "success")
        if study is not None:
            flash(_("Die Studie aus dem Bildeingang ist diesem Fall zugeordnet."), "success")
        return redirect(url_for("cases.detail", case_id=case.id), 303)
    error, status = None, 200
    if request.method == "POST":
        error, status = _("Bitte die markierten Felder prüfen."), 422
    return render_template("cases/register.html", form=form, duplicates=[], error=error, study=study), status


def _registration(form: RegisterCaseForm) -> cases.Registration:
    return cases.Registration(
        board_id=form.board.data,
        patient=cases.PatientInput(
            family_name=form.family_name.data or "",
            given_name=form.given_name.data or "",
            birth_date=form.birth_date.data,
            sex=form.sex.data or "U",
            patient_number=form.patient_number.data or "",
            partner_patient_id=form.partner_patient_id.data,
        ),
        case=cases.CaseInput(
            icd10_code=form.icd10_code.data or "",
            icd10_text=form.icd10_text.data or "",
            conference_type=form.conference_type.data or "",
            question=form.question.data or "",
            icdo_morphology=form.icdo_morphology.data,
            diagnosis_date=form.diagnosis_date.data,
            tnm=form.tnm.data,
            ecog=form.ecog.data,
            presenter_id=form.presenter.data or None,
            referring_partner_id=form.referring_partner.data or None,
            accession_number=form.accession_number.data,
            imaging_expected=bool(form.imaging_expected.data),
        ),
        session_id=form.session.data or None,
        confirm_duplicate=bool(form.confirm_duplicate.data),
    )


def _study_to_take_over(form: RegisterCaseForm) -> ImagingStudy | None:
    """The inbox study a registration takes over, if any: only for those who may triage, and only while it is
    still unassigned (someone else may have assigned it meanwhile)."""
    if request.method != "POST" or not request.form.get("from_study"):
        return None
    if not can_triage_imaging(current_user()):
        raise PermissionDenied(N_("Studien aus dem Bildeingang ordnet die Koordination zu."))
    study_id = parse_id(request.form["from_study"])
    if study_id is None:
        raise InvalidInput(N_("Diese Studie gibt es nicht."))
    study = imaging_services.get_study(db(), study_id)
    if study.case_id is not None:
        raise Conflict(N_("Diese Studie ist inzwischen einem Fall zugeordnet."))
    if study.state is StudyState.PURGED:
        raise Conflict(N_("Die Bilder dieser Studie wurden bereits gelöscht."))
    if study.rejected_at is not None:
        raise Conflict(imaging.REJECTED)
    form.from_study.data = study.id
    return study


# --- the case list of a session ------------------------------------------------------------------------------------
@bp.route("/sessions/<int:session_id>/order", methods=["POST"])
@requires(can_manage_case_list)
def order(session_id: int) -> Page:
    cs = conf.get_session(db(), session_id)
    form = OrderForm()
    if form.validate_on_submit():
        try:
            ids = [int(x) for x in (form.order.data or "").split(",") if x.strip()]
        except ValueError:
            ids = []
        cases.reorder_cases(db(), cs, ids, at=now(), actor=current_actor())
        db().commit()
        flash(_("Reihenfolge gespeichert."), "order")
    return redirect(url_for("conferences.session_detail", session_id=cs.id) + "#faelle", 303)


@bp.route("/cases/<int:case_id>/up", methods=["POST"])
@requires(can_manage_case_list)
def up(case_id: int) -> Page:
    return _step(case_id, -1)


@bp.route("/cases/<int:case_id>/down", methods=["POST"])
@requires(can_manage_case_list)
def down(case_id: int) -> Page:
    return _step(case_id, +1)


def _step(case_id: int, delta: int) -> Page:
    case = cases.get_case(db(), case_id)  # CSRF is checked for every POST by CSRFProtect
    cases.move_case_by(db(), case, delta, at=now(), actor=current_actor())
    db().commit()
    flash(_("Fall nach oben verschoben.") if delta < 0 else _("Fall nach unten verschoben."), "order")
    return redirect(url_for("conferences.session_detail", session_id=case.session_id) + f"#fall-{case.id}", 303)


# --- the case page ---------------------------------------------------------------------------------------------------
def _render_case(
    case: Case, *, error: str | None = None, status: int = 200, forms: dict[str, Any] | None = None
) -> tuple[str, int]:
    forms = forms or {}
    move = forms.get("move") or MoveCaseForm(formdata=None)
    edit = forms.get("edit") or _edit_form(case)
    # a form drawn again (after an error, also a stale-page conflict) carries the version now shown: saving again
    # after checking the page is a deliberate change
    move.seen.data = edit.seen.data = cases.case_version(case)
    move.target.choices = [
        (cs.id, f"{cs.board.short_name} {cs.local_start.strftime('%d.%m.%Y %H:%M')}")
        for cs in _upcoming()
        if cs.id != case.session_id
    ]
    presenter = forms.get("presenter") or PresenterForm(formdata=None, presenter=case.presenter_id or 0)
    presenter.presenter.choices = [(0, "—")] + [(u.id, u.display_name) for u in _physicians()]
    imaging = imaging_for([case.id])
    items = checklist.items_of(db(), case.board)
    return render_template(
        "cases/case.html",
        case=case,
        error=error,
        move_form=move,
        presenter_form=presenter,
        withdraw_form=forms.get("withdraw") or ReasonForm(formdata=None),
        edit_form=edit,
        can_edit=_can_edit(case),
        frozen=bool(agenda_versions(db(), case.session)),
        error_form=next(iter(forms), None),
        status_form=StatusForm(formdata=None),
        document_form=forms.get("document") or DocumentForm(formdata=None),
        registry_form=forms.get("registry")
        or RegistryDataForm(
            formdata=None,
            insurer_iknr=case.patient.insurer_iknr or "",
            insurance_number=case.patient.insurance_number or "",
            date_of_death=case.patient.date_of_death,
        ),
        imaging=imaging.get(case.id),
        checks=checklist.evaluate(case, items, imaging_complete(imaging.get(case.id))),
        can_manage=can_manage_case_list(current_user()),
        can_upload=_can_upload(case),
        late_deadline=conf.registration_deadline(case.session),
    ), status


def _edit_form(case: Case) -> EditCaseForm:
    return EditCaseForm(
        formdata=None,
        **{name: getattr(case, name) for name in cases.EDITABLE if name != "conference_type"},
        conference_type=case.conference_type.value,
    )


def _can_edit(case: Case) -> bool:
    """The edit form is shown to the registrant and the coordination (the service decides about frozen agendas)."""
    user = current_user()
    active = case.status in (CaseStatus.REGISTERED, CaseStatus.COMPLETE)
    return active and (can_manage_case_list(user) or user.id == case.registered_by_id)


@bp.route("/cases/<int:case_id>/edit", methods=["POST"])
@requires(can_register_case)
def edit(case_id: int) -> Page:
    case = cases.get_case(db(), case_id)
    authorize_case(db(), current_user(), case, now())
    form = EditCaseForm()
    if not form.validate_on_submit():
        return _render_case(case, error=_("Bitte die markierten Felder prüfen."), status=422, forms={"edit": form})
    data = cases.CaseInput(
        icd10_code=form.icd10_code.data or "",
        icd10_text=form.icd10_text.data or "",
        conference_type=form.conference_type.data or "",
        question=form.question.data or "",
        icdo_morphology=form.icdo_morphology.data,
        tnm=form.tnm.data,
        ecog=form.ecog.data,
        accession_number=form.accession_number.data,
        imaging_expected=bool(form.imaging_expected.data),
    )
    try:
        cases.edit_case(
            db(), case, data, editor=current_user(), reason=form.reason.data,
            frozen=bool(agenda_versions(db(), case.session)), at=now(), actor=current_actor(), seen=form.seen.data,
        )  # fmt: skip
    except TumorboardError as err:
        db().rollback()
        case = cases.get_case(db(), case_id)
        return _render_case(case, error=message(err), status=status_of(err), forms={"edit": form})
    db().commit()
    flash(_("Fall gespeichert."), "success")
    return redirect(url_for("cases.detail", case_id=case.id), 303)


def _can_upload(case: Case) -> bool:
    user = current_user()
    return can_manage_case_list(user) or user.id in (case.registered_by_id, case.presenter_id)


@bp.route("/cases/<int:case_id>")
@requires(can_read_cases)
def detail(case_id: int) -> Page:
    case = cases.get_case(db(), case_id)
    access = authorize_case(db(), current_user(), case, now())
    if access is CaseAccess.EMERGENCY:
        _log_access(Tag.CASE_VIEW, SubjectType.CASE, case.id, emergency=True)
    else:
        _log_access(Tag.CASE_VIEW, SubjectType.CASE, case.id)
    db().commit()
    return _render_case(case)


def _case_action(case_id: int, key: str, form: Any, action: Any, done: str) -> Page:
    case = cases.get_case(db(), case_id)
    authorize_case(db(), current_user(), case, now())
    if not form.validate_on_submit():
        return _render_case(case, error=_("Bitte die markierten Felder prüfen."), status=422, forms={key: form})
    try:
        action(case, form)
    except TumorboardError as err:
        db().rollback()
        case = cases.get_case(db(), case_id)
        return _render_case(case, error=message(err), status=status_of(err), forms={key: form})
    db().commit()
    flash(done, "success")
    return redirect(url_for("cases.detail", case_id=case_id), 303)


@bp.route("/cases/<int:case_id>/registry", methods=["POST"])
@requires(can_manage_case_list)
def registry_data(case_id: int) -> Page:
    """The patient's registry fields for the oBDS export (IKNR, insurance number, date of death)."""
    form = RegistryDataForm()
    return _case_action(
        case_id,
        "registry",
        form,
        lambda case, f: update_registry_data(
            db(),
            case.patient,
            insurer_iknr=f.insurer_iknr.data,
            insurance_number=f.insurance_number.data,
            date_of_death=f.date_of_death.data,
            at=now(),
            actor=current_actor(),
        ),
        _("Registerangaben gespeichert."),
    )


@bp.route("/cases/<int:case_id>/move", methods=["POST"])
@requires(can_manage_case_list)
def move(case_id: int) -> Page:
    form = MoveCaseForm()
    return _case_action(
        case_id,
        "move",
        form,
        lambda case, f: cases.move_case(
            db(),
            case,
            conf.get_session(db(), f.target.data),
            reason=f.reason.data,
            at=now(),
            actor=current_actor(),
            seen=f.seen.data,
        ),
        _("Fall verlegt."),
    )


@bp.route("/cases/<int:case_id>/withdraw", methods=["POST"])
@requires(can_manage_case_list)
def withdraw(case_id: int) -> Page:
    return _case_action(
        case_id,
        "withdraw",
        ReasonForm(),
        lambda case, f: cases.withdraw_case(db(), case, reason=f.reason.data, at=now(), actor=current_actor()),
        _("Fall zurückgezogen."),
    )


@bp.route("/cases/<int:case_id>/status", methods=["POST"])
@requires(can_manage_case_list)
def status(case_id: int) -> Page:
    return _case_action(
        case_id,
        "status",
        StatusForm(),
        lambda case, f: _set_status_unless_signed(case, f.status.data),
        _("Status geändert."),
    )


def _set_status_unless_signed(case: Case, status: str) -> None:
    # once the session's protocol is signed, "besprochen" is part of the record (changes only as an amendment)
    from tumorboard.protocol.services import is_signed

    if is_signed(db(), case.session):
        raise Conflict(N_("Das Protokoll dieser Sitzung ist unterschrieben; der Status ist Teil des Protokolls."))
    cases.set_case_status(db(), case, status, at=now(), actor=current_actor())


@bp.route("/cases/<int:case_id>/presenter", methods=["POST"])
@requires(can_manage_case_list)
def presenter(case_id: int) -> Page:
    form = PresenterForm()
    form.presenter.choices = [(0, "—")] + [(u.id, u.display_name) for u in _physicians()]
    return _case_action(
        case_id,
        "presenter",
        form,
        lambda case, f: cases.set_presenter(db(), case, f.presenter.data or None, at=now(), actor=current_actor()),
        _("Vorstellende Person gespeichert."),
    )


@bp.route("/cases/<int:case_id>/checklist/<int:item_id>", methods=["POST"])
@requires(can_manage_case_list)
def mark(case_id: int, item_id: int) -> Page:
    return _case_action(
        case_id,
        "mark",
        EmptyForm(),
        lambda case, f: checklist.toggle_mark(
            db(), case, item_id, user_id=current_user().id, at=now(), actor=current_actor()
        ),
        _("Checkliste aktualisiert."),
    )


@bp.route("/cases/<int:case_id>/documents", methods=["POST"])
@requires(can_register_case)
def upload(case_id: int) -> Page:
    case = cases.get_case(db(), case_id)
    authorize_case(db(), current_user(), case, now())
    if not _can_upload(case):
        return _render_case(case, error=_("Dafür fehlt Ihnen die Berechtigung."), status=403)
    form = DocumentForm()
    upload_file = form.file.data

    def attach(c: Case, f: DocumentForm) -> None:
        add_document(
            db(),
            c,
            data=upload_file.read(),
            original_name=upload_file.filename or "",
            content_type=upload_file.mimetype or "",
            kind=f.kind.data,
            uploaded_by=current_user(),
            store=document_store(),
            at=now(),
            actor=current_actor(),
        )

    return _case_action(case_id, "document", form, attach, _("Dokument angehängt."))


@bp.route("/documents/<int:document_id>")
@requires(can_read_cases)
def document(document_id: int) -> Response:
    doc = db().get(CaseDocument, document_id)
    if doc is None:
        raise NotFound(N_("Dieses Dokument gibt es nicht."))
    authorize_case(db(), current_user(), doc.case, now())
    data = document_store().read(doc.stored_name)
    _log_access(Tag.CASE_DOCUMENT_VIEW, SubjectType.CASE, doc.case_id, document_id=doc.id)
    db().commit()
    # whatever name and type came with the upload: the bytes were checked to be a PDF, they are served as one,
    # under a name of our own (ASCII, no path, .pdf), as a download (never rendered inline as HTML)
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{download_name(doc)}"'},
    )


# --- board checklist ---
@bp.route("/boards/<int:board_id>/checklist", methods=["GET", "POST"])
@requires(can_manage_case_list)
def board_checklist(board_id: int) -> Page:
    board = conf.get_board(db(), board_id)
    form = ChecklistConfigForm()
    error, status_code = None, 200
    if form.validate_on_submit():
        try:
            checklist.set_board_checklist(db(), board, form.items.data or "", at=now(), actor=current_actor())
        except TumorboardError as err:
            db().rollback()
            error, status_code = message(err), status_of(err)
        else:
            db().commit()
            flash(_("Checkliste gespeichert."), "success")
            return redirect(url_for("conferences.board_detail", board_id=board.id), 303)
    elif request.method == "GET":
        form.items.data = "\n".join(
            f"{label} = {rule}" if rule else label for _id, label, rule in checklist.items_of(db(), board)
        )
    return render_template("cases/checklist.html", board=board, form=form, error=error), status_code


# --- search and my cases ---
@bp.route("/search", methods=["GET", "POST"])
@requires(can_read_cases)
def search() -> Page:
    """POST, so that names and birth dates never appear in URLs, browser history or access logs."""
    query = (request.form.get("q") or "").strip()[:100] if request.method == "POST" else ""
    patients = list(search_patients(db(), query)) if query else []
    user, moment = current_user(), now()
    found = [c for c in cases.cases_of_patients(db(), [p.id for p in patients])
             if case_access(db(), user, c, moment) is CaseAccess.NEED_TO_KNOW]  # fmt: skip
    if user.role not in (Role.COORDINATOR, Role.QM):
        # need-to-know: a physician finds only patients of their own boards and cases
        readable = {c.patient_id for c in found}
        patients = [p for p in patients if p.id in readable]
    by_patient: dict[int, list[Case]] = {}
    for c in found:
        by_patient.setdefault(c.patient_id, []).append(c)
    if query:
        # the query itself may be a name or birth date: logged as its length only
        _log_access(Tag.PATIENT_SEARCH, SubjectType.SEARCH, "-", results=len(patients), query_length=len(query),
                    case_ids=[c.id for c in found])  # fmt: skip
        db().commit()
    return render_template(
        "cases/search.html",
        query=query,
        patients=patients,
        by_patient=by_patient,
        too_short=bool(query) and len(query) < 2,
        form=EmptyForm(formdata=None),
    )


@bp.route("/my")
@requires(can_register_case)
def mine() -> Page:
    user = current_user()
    my_cases = list(cases.cases_of_physician(db(), user, now()))
    sessions: dict[int, ConferenceSession] = {}
    for c in my_cases:
        sessions.setdefault(c.session_id, c.session)
    log_list_access(Tag.CASE_MINE_VIEW, SubjectType.USER, user.id, my_cases, {c.id: True for c in my_cases})
    db().commit()
    return render_template("cases/mine.html", cases=my_cases, sessions=list(sessions.values()))


# --- agenda downloads ---
def _agenda_download(session_id: int, fmt: Literal["pdf", "csv"]) -> Response:
    # imported here, like the other PDF exports: WeasyPrint loads only when a download is asked for
    from tumorboard.exports.downloads import agenda_download

    cs = conf.get_session(db(), session_id)
    if not sees_board_patients(db(), current_user(), cs.board_id):
        raise PermissionDenied(
            N_("Die Tagesordnung mit Patientendaten erhalten die Koordination und die Mitglieder dieser Konferenz.")
        )
    download = agenda_download(
        db(),
        cs,
        fmt=fmt,
        locale=current_user().locale,
        at=now(),
        imaging_store=runtime().store if fmt == "pdf" else None,
        templates=runtime().templates,
    )
    _log_access(Tag.CASE_AGENDA_EXPORT, SubjectType.SESSION, cs.id, format=fmt, version=download.agenda.version)
    db().commit()
    disposition = f'attachment; filename="{download.filename}"'
    return Response(download.body, mimetype=download.mimetype, headers={"Content-Disposition": disposition})


@bp.route("/sessions/<int:session_id>/agenda.pdf")
@requires(can_read_cases)
def agenda_pdf(session_id: int) -> Response:
    return _agenda_download(session_id, "pdf")


@bp.route("/sessions/<int:session_id>/agenda.csv")
@requires(can_read_cases)
def agenda_csv(session_id: int) -> Response:
    return _agenda_download(session_id, "csv")
