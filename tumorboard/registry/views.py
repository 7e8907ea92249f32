"""The oBDS export in the browser (issue 15): QM and admin choose a period (and a board), the export runs in the
request (one query per 500 cases; a year of one centre is seconds), and the validated document is kept with its
log entry for the download. Nothing is written unless it validates."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _

from tumorboard.conferences.services import get_board, list_boards
from tumorboard.errors import InvalidInput, NotFound, TumorboardError
from tumorboard.i18n import N_
from tumorboard.qm.permissions import can_view_qm
from tumorboard.registry.obds import InvalidDocument
from tumorboard.registry.services import check_period, export_document, export_obds, get_export, list_exports
from tumorboard.text import parse_id
from tumorboard.web.errors import message, status_of
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, current_user, now, requires

bp = Blueprint("registry", __name__, url_prefix="/qm/obds")

Page = str | tuple[str, int] | Response


def _date(name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        raise InvalidInput(N_("Bitte den Zeitraum mit zwei gültigen Daten angeben (von, bis)."), field=name) from None


def _page(**context: object) -> str:
    return render_template(
        "registry/obds.html",
        boards=list_boards(db()),
        exports=list_exports(db()),
        configured=runtime().registry.configured,
        form=request.form,
        **context,
    )


@bp.route("/")
@requires(can_view_qm)
def index() -> Page:
    return _page(result=None, error=None, schema_errors=None)


@bp.route("/", methods=["POST"])
@requires(can_view_qm)
def export() -> Page:
    """Run one export; show what went out and what did not (with the reason)."""
    try:
        first, last = _date("from"), _date("to")
        check_period(first, last)
        board_id = request.form.get("board") or ""
        board_key = parse_id(board_id)
        if board_id and board_key is None:  # not "all boards" by mistake
            raise NotFound(N_("Diese Konferenz gibt es nicht."))
        board = get_board(db(), board_key) if board_key is not None else None
        at = now()
        result = export_obds(
            db(), first=first, last=last, board=board, settings=runtime().registry,
            file_name=f"obds-{first:%Y%m%d}-{last:%Y%m%d}.xml", user=current_user(), at=at, actor=current_actor(),
        )  # fmt: skip
    except InvalidDocument as err:
        db().rollback()
        return _page(result=None, error=_("Die oBDS-Datei entspricht nicht dem Schema; nichts wurde gespeichert."),
                     schema_errors=err.errors), 422  # fmt: skip
    except TumorboardError as err:
        db().rollback()
        return _page(result=None, error=message(err), schema_errors=None), status_of(err)
    db().commit()
    return _page(result=result, error=None, schema_errors=None)


@bp.route("/<int:export_id>.xml")
@requires(can_view_qm)
def download(export_id: int) -> Page:
    """The stored document, its SHA-256 checked; the download is audited (it holds patient data)."""
    export = get_export(db(), export_id)
    body = export_document(db(), export, at=now(), actor=current_actor())
    db().commit()
    return Response(
        body,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{export.file_name}"', "Cache-Control": "no-store"},
    )
