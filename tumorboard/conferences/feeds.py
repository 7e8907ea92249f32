"""Calendar subscription: the personal feed URL (token, renew, revoke) and the token-protected feeds.

Calendar clients cannot log in, so a feed URL carries an unguessable per-user token. Feeds hold no patient
data; the token is checked on every request and a revoked token answers 404.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from tumorboard.auth.forms import EmptyForm
from tumorboard.auth.permissions import can_view_schedule
from tumorboard.auth.services import renew_feed_token, revoke_feed_token, user_by_feed_token
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.exports.ical import render_calendar
from tumorboard.web.request_session import db, read_only, runtime
from tumorboard.web.security import current_actor, current_user, now, public, requires

bp = Blueprint("calendar", __name__)

#: Feeds reach this far back, so that a recent cancellation still shows in clients that synced late.
FEED_PAST = dt.timedelta(weeks=8)


@bp.route("/calendar")
@requires(can_view_schedule)
def subscription() -> str:
    user = current_user()
    return render_template(
        "calendar/subscription.html", token=user.feed_token, boards=conf.list_boards(db()), form=EmptyForm()
    )


@bp.route("/calendar/renew", methods=["POST"])
@requires(can_view_schedule)
def renew() -> Response:
    if EmptyForm().validate_on_submit():
        renew_feed_token(db(), current_user(), at=now(), actor=current_actor())
        db().commit()
        flash(_("Neuer Kalender-Link erstellt. Der alte Link funktioniert nicht mehr."), "success")
    return redirect(url_for("calendar.subscription"), 303)


@bp.route("/calendar/revoke", methods=["POST"])
@requires(can_view_schedule)
def revoke() -> Response:
    if EmptyForm().validate_on_submit():
        revoke_feed_token(db(), current_user(), at=now(), actor=current_actor())
        db().commit()
        flash(_("Kalender-Link gesperrt."), "success")
    return redirect(url_for("calendar.subscription"), 303)


def _feed(token: str, board_id: int | None) -> Response:
    session = db()
    user = user_by_feed_token(session, token)
    board = conf.get_board(session, board_id) if board_id is not None else None
    today = now().astimezone(BERLIN).date()
    start, end = conf.day_range(today - FEED_PAST, today + dt.timedelta(weeks=runtime().settings.horizon_weeks + 1))
    rows = conf.sessions_between(session, start, end, board=board, include_holidays=False)
    name = _("Tumorkonferenz %(board)s", board=board.short_name) if board else _("Tumorkonferenzen")
    body = render_calendar(rows, name=name, generated_at=now(), locale=user.locale)
    return Response(body, mimetype="text/calendar", headers={"Cache-Control": "private, max-age=300"})


@bp.route("/feeds/<token>/all.ics")
@public
@read_only
def feed_all(token: str) -> Response:
    return _feed(token, None)


@bp.route("/feeds/<token>/boards/<int:board_id>.ics")
@public
@read_only
def feed_board(token: str, board_id: int) -> Response:
    return _feed(token, board_id)
