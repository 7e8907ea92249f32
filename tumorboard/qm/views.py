"""The QM dashboard (issue 11): one board or all, one period; every figure as SVG beside its table, each with a
CSV download. Read-only: nothing here changes the record."""

from __future__ import annotations

import base64

from flask import Blueprint, render_template, request
from flask_babel import get_locale
from werkzeug.wrappers import Response

from tumorboard.clock import BERLIN
from tumorboard.errors import TumorboardError
from tumorboard.exports.csv import render_csv
from tumorboard.i18n import translate
from tumorboard.qm.charts import render_svg
from tumorboard.qm.period import Period, PeriodKind, parse_period
from tumorboard.qm.permissions import can_view_qm
from tumorboard.qm.services import Dashboard, build_dashboard, resolve_boards
from tumorboard.web.errors import message, status_of
from tumorboard.web.request_session import db
from tumorboard.web.security import now, requires

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
    from tumorboard.conferences.services import list_boards

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
    }
    return render_template(
        "qm/dashboard.html", data=data, boards=boards, charts=charts, error=None, kinds=PeriodKind, args=request.args
    )


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
