"""The QM dashboard (issue 11): one board or all, one period; every figure as SVG beside its table, each with a
CSV download. Read-only: nothing here changes the record."""

from __future__ import annotations

import base64
from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf_services
from tumorboard.conferences.models import Board
from tumorboard.conferences.services import list_boards
from tumorboard.errors import InvalidInput, TumorboardError
from tumorboard.exports.csv import render_csv
from tumorboard.i18n import N_, translate
from tumorboard.qm.bundles import download_bundle, get_job, recent_jobs, request_bundle
from tumorboard.qm.charts import render_svg
from tumorboard.qm.forms import IndicatorForm
from tumorboard.qm.indicators import IndicatorInput, current_definitions, define_indicator
from tumorboard.qm.models import IndicatorCode
from tumorboard.qm.period import Period, PeriodKind, parse_period
from tumorboard.qm.permissions import can_define_indicators, can_view_qm
from tumorboard.qm.quotas import (
    COLUMNS,
    MAX_BYTES,
    ImportRejected,
    import_primary_cases,
    list_imports,
    quota_result,
    record_quota_view,
)
from tumorboard.qm.services import ChartKind, Dashboard, auditor_sessions, build_dashboard, resolve_boards
from tumorboard.text import parse_id
from tumorboard.web.errors import message, status_of
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, current_user, now, requires

bp = Blueprint("qm", __name__, url_prefix="/qm")

Page = str | tuple[str, int] | Response


def _period() -> Period:
    args = request.args
    return parse_period(
        args.get("period"),
        today=now().astimezone(BERLIN).date(),
        year=args.get("year"),
        quarter=args.get("quarter"),
        month=args.get("month"),
        start=args.get("from"),
        end=args.get("to"),
    )


def _dashboard() -> Dashboard:
    boards = resolve_boards(db(), request.args.get("board"))
    return build_dashboard(db(), boards=boards, period=_period(), now=now())


@bp.route("/")
@requires(can_view_qm)
def dashboard() -> Page:
    boards = list_boards(db())
    try:
        data = _dashboard()
    except TumorboardError as err:
        return render_template(
            "qm/dashboard.html", data=None, boards=boards, error=message(err), kinds=PeriodKind, args=request.args
        ), status_of(err)
    locale = str(get_locale() or "de")
    # As data: URIs in <img>: the page's CSP (style-src 'self') would strip the inline styles of an inline <svg>;
    # an image document is isolated from the page, and img-src allows data:.
    charts = {
        f.key: "data:image/svg+xml;base64,"
        + base64.b64encode(render_svg(f, title=translate(f.title, locale)).encode()).decode("ascii")
        for f in data.figures
        if f.chart is not ChartKind.TABLE
    }
    from tumorboard.cme.submissions import deadline_overview

    return render_template(
        "qm/dashboard.html", data=data, boards=boards, charts=charts, error=None, kinds=PeriodKind, args=request.args,
        cme_deadlines=deadline_overview(db(), now=now()),
    )  # fmt: skip


@bp.route("/<key>.csv")
@requires(can_view_qm)
def figure_csv(key: str) -> Page:
    try:
        data = _dashboard()
        figure = data.figure(key)
    except TumorboardError as err:
        return render_template("errors/error.html", code=status_of(err), message=message(err)), status_of(err)
    body = render_csv(figure.rows, header=figure.header)
    scope = data.boards[0].short_name if len(data.boards) == 1 else "alle"
    name = f"qm-{key}-{scope}-{data.period.first:%Y%m%d}-{data.period.last:%Y%m%d}.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- indicator definitions ---------------------------------------------------------------------------------------
@bp.route("/indicators")
@requires(can_view_qm)
def indicators() -> Page:
    from tumorboard.qm.indicators import history

    return render_template(
        "qm/indicators.html",
        rows=history(db()),
        boards={b.id: b for b in list_boards(db())},
        can_edit=can_define_indicators(current_user()),
    )


def _indicator_form(code: str, board: Board | None) -> IndicatorForm:
    form = IndicatorForm()
    form.board.choices = [("", _("alle Konferenzen (Vorgabe)"))] + [(str(b.id), b.name) for b in list_boards(db())]
    if request.method == "GET":
        current = current_definitions(db(), board).get(IndicatorCode(code))
        if current is not None:
            form.board.data = str(board.id) if board else ""
            form.name.data = current.name
            form.numerator.data = current.numerator
            form.denominator.data = current.denominator
            form.target_percent.data = (
                Decimal(str(current.target_percent)) if current.target_percent is not None else None
            )
            form.target_direction.data = current.target_direction.value
            form.working_days.data = current.working_days
            form.cohort_rule.data = current.cohort_rule or ""
            form.source.data = current.source
    return form


@bp.route("/indicators/<code>", methods=["GET", "POST"])
@requires(can_define_indicators)
def edit_indicator(code: str) -> Page:
    if code not in {c.value for c in IndicatorCode}:
        return render_template("errors/error.html", code=404, message=_("Diese Kennzahl gibt es nicht.")), 404
    board_arg = request.values.get("board") or ""
    board_id = parse_id(board_arg)
    board = conf_services.get_board(db(), board_id) if board_id is not None else None
    form = _indicator_form(code, board)
    error = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                define_indicator(
                    db(),
                    code=code,
                    board=board,
                    data=IndicatorInput(
                        name=form.name.data or "",
                        numerator=form.numerator.data or "",
                        denominator=form.denominator.data or "",
                        target_percent=float(form.target_percent.data)
                        if form.target_percent.data is not None
                        else None,
                        target_direction=form.target_direction.data or "",
                        working_days=form.working_days.data,
                        cohort_rule=form.cohort_rule.data,
                        source=form.source.data or "",
                        reason=form.reason.data,
                    ),
                    at=now(),
                    actor=current_actor(),
                )
            except TumorboardError as err:
                db().rollback()
                error, status = message(err), status_of(err)
            else:
                db().commit()
                flash(_("Neue Version der Kennzahl %(code)s gespeichert.", code=code), "success")
                return redirect(url_for("qm.indicators"), 303)
        else:
            error, status = _("Bitte die markierten Felder prüfen."), 422
    return render_template("qm/indicator_edit.html", code=code, form=form, error=error), status


# --- primary cases and quotas ------------------------------------------------------------------------------------
@bp.route("/primary-cases", methods=["GET", "POST"])
@requires(can_view_qm)
def primary_cases() -> Page:
    """QM imports the primary-case list of a board and year; a bad file is refused whole with line and reason."""
    boards = list_boards(db())
    problems: list[tuple[int, str]] = []
    error = None
    status = 200
    if request.method == "POST":
        upload = request.files.get("file")
        board_arg = request.form.get("board", "")
        try:
            board_id = parse_id(board_arg)
            if board_id is None:
                raise InvalidInput(N_("Bitte eine Konferenz wählen."), field="board")
            board = conf_services.get_board(db(), board_id)
            year_text = request.form.get("year", "")
            if parse_id(year_text) is None:
                raise InvalidInput(N_("Bitte ein Jahr zwischen 2000 und 2100 angeben."), field="year")
            if upload is None or not upload.filename:
                raise InvalidInput(N_("Bitte eine CSV-Datei wählen."), field="file")
            record = import_primary_cases(
                db(),
                board=board,
                year=int(year_text),
                filename=upload.filename,
                content=upload.read(MAX_BYTES + 1),
                at=now(),
                actor=current_actor(),
            )
        except ImportRejected as err:
            db().rollback()
            error, status = message(err), status_of(err)
            locale = str(get_locale() or "de")
            problems = [(p.line, translate(p.message, locale, **p.params)) for p in err.problems]
        except TumorboardError as err:
            db().rollback()
            error, status = message(err), status_of(err)
        else:
            db().commit()
            flash(_("%(n)s Fälle importiert.", n=record.row_count), "success")
            return redirect(url_for("qm.primary_cases"), 303)
    return render_template(
        "qm/primary_cases.html",
        boards=boards,
        by_id={b.id: b for b in boards},
        imports=list_imports(db()),
        columns=COLUMNS,
        problems=problems,
        error=error,
        today=now().astimezone(BERLIN).date(),
    ), status


@bp.route("/quotas")
@requires(can_view_qm)
def quotas() -> Page:
    """P1–P3 of one board and year with the denominator cases never presented (what auditors ask for)."""
    try:
        year = _period().first.year
        if request.args.get("board") in (None, "", "all"):  # the quotas are per board: let the reader pick one
            return render_template("qm/quotas.html", board=None, boards=list_boards(db()), year=year, result=None)
        board = resolve_boards(db(), request.args.get("board"))
        if len(board) != 1:
            raise InvalidInput(N_("Bitte eine Konferenz wählen."), field="board")
        result = quota_result(db(), board[0], year)
    except TumorboardError as err:
        return render_template("errors/error.html", code=status_of(err), message=message(err)), status_of(err)
    if result is not None and result.never_presented:
        record_quota_view(db(), result, at=now(), actor=current_actor())
        db().commit()
    if request.args.get("format") == "csv":
        body = render_csv(
            [(m.code.value, m.line, m.patient_number, m.icd10_code, m.reference_date.isoformat())
             for m in (result.never_presented if result else ())],
            header=("Kennzahl", "Zeile", "Patienten-ID", "ICD-10", "Bezugsdatum"),
        )  # fmt: skip
        name = f"qm-nie-vorgestellt-{board[0].short_name}-{year}.csv"
        return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return render_template("qm/quotas.html", board=board[0], year=year, result=result)


# --- evidence bundles --------------------------------------------------------------------------------------------
@bp.route("/bundles", methods=["POST"])
@requires(can_view_qm)
def request_bundle_view() -> Page:
    """Queue a bundle for the dashboard's board and period; the scheduler builds it (never this web worker)."""
    try:
        boards = resolve_boards(db(), request.form.get("board"))
        period = parse_period(
            request.form.get("period"),
            today=now().astimezone(BERLIN).date(),
            year=request.form.get("year"),
            quarter=request.form.get("quarter"),
            month=request.form.get("month"),
            start=request.form.get("from"),
            end=request.form.get("to"),
        )
        user = current_user()
        job = request_bundle(
            db(),
            board=boards[0] if len(boards) == 1 and request.form.get("board") not in (None, "", "all") else None,
            period=period,
            requested_by_id=user.id,
            requested_by_name=user.display_name,
            at=now(),
            actor=current_actor(),
        )
    except TumorboardError as err:
        db().rollback()
        return render_template("errors/error.html", code=status_of(err), message=message(err)), status_of(err)
    db().commit()
    return redirect(url_for("qm.bundle_status", job_id=job.id), 303)


@bp.route("/bundles/<int:job_id>")
@requires(can_view_qm)
def bundle_status(job_id: int) -> Page:
    job = get_job(db(), job_id)
    # the job's message is stored as its German catalogue text (N_), shown in the reader's language; a message that
    # is not in the catalogue (an error with its details) shows as stored
    return render_template(
        "qm/bundle.html", job=job, message=_(job.message) if job.message else "", jobs=recent_jobs(db())
    )


@bp.route("/bundles/<int:job_id>.zip")
@requires(can_view_qm)
def bundle_download(job_id: int) -> Page:
    job = get_job(db(), job_id)
    path = download_bundle(
        db(), job, directory=runtime().settings.instance_path / "qm-bundles", at=now(), actor=current_actor()
    )  # a refusal (not ready, file missing or changed) is a TumorboardError: the error page, nothing recorded
    db().commit()
    return send_file(path, mimetype="application/zip", as_attachment=True, download_name=job.file_name)


# --- auditor view ------------------------------------------------------------------------------------------------
@bp.route("/audit")
@requires(can_view_qm)
def auditor() -> Page:
    """What an auditor clicks through during the visit: the period's sessions with outcome, attendance list and
    protocol versions. Read-only."""
    boards = list_boards(db())
    try:
        chosen = resolve_boards(db(), request.args.get("board"))
        period = _period()
    except TumorboardError as err:
        return render_template(
            "qm/auditor.html", rows=None, boards=boards, error=message(err), args=request.args, period=None
        ), status_of(err)
    rows = auditor_sessions(db(), boards=chosen, period=period, now=now())
    return render_template(
        "qm/auditor.html", rows=rows, boards=boards, error=None, args=request.args, period=period, chosen=chosen
    )
