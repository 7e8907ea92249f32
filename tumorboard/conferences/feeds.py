"""Calendar subscription: the personal feed URL (token, renew, revoke) and the token-protected feeds.

Calendar clients cannot log in, so a feed URL carries an unguessable per-user token. Feeds hold no patient
data; the token is checked on every request and a revoked token answers 404.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
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


class FeedCache:
    """Rendered feed bodies of this process, by ETag; the least recently used go first. A body's ETag digests all
    that it shows (:func:`_etag`), so a change to any session or board in it makes a new ETag and the old body is
    never served again: nothing to invalidate, and every process (gunicorn worker) may keep its own."""

    def __init__(self, size: int = 64) -> None:
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()  # the development server answers in threads

    def get(self, etag: str) -> bytes | None:
        with self._lock:
            body = self._bodies.get(etag)
            if body is not None:
                self._bodies.move_to_end(etag)
            return body

    def put(self, etag: str, body: bytes) -> None:
        with self._lock:
            self._bodies[etag] = body
            while len(self._bodies) > self._size:
                self._bodies.popitem(last=False)


@bp.record_once
def _install_cache(state: BlueprintSetupState) -> None:
    state.app.extensions["calendar_feed_cache"] = FeedCache()


def _etag(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _feed(token: str, board_id: int | None) -> Response:
    """The feed, rendered only when what it shows has changed (the calendar feed was the slowest page under load,
    issue 16): its ETag is a digest of the sessions' and boards' rows, the calendar's name and the language. A client
    that sends the ETag back (If-None-Match) gets 304 without a body; one that does not gets the cached body. The
    body's DTSTAMP is the time it was rendered — in each process, so the ETag is weak: equal meaning, not equal
    bytes."""
    session = db()
    user = user_by_feed_token(session, token)
    board = conf.get_board(session, board_id) if board_id is not None else None
    today = now().astimezone(BERLIN).date()
    start, end = conf.day_range(today - FEED_PAST, today + dt.timedelta(weeks=runtime().settings.horizon_weeks + 1))
    name = _("Tumorkonferenz %(board)s", board=board.short_name) if board else _("Tumorkonferenzen")
    locale = user.locale
    fingerprint = conf.sessions_fingerprint(session, start, end, board=board, include_holidays=False)
    etag = _etag(fingerprint, str(board_id), name, locale)
    headers = {"Cache-Control": "private, max-age=300"}
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304, headers=headers)
        response.set_etag(etag, weak=True)
        return response
    cache: FeedCache = current_app.extensions["calendar_feed_cache"]
    body = cache.get(etag)
    if body is None:
        rows = conf.sessions_between(session, start, end, board=board, include_holidays=False)
        body = render_calendar(rows, name=name, generated_at=now(), locale=locale)
        cache.put(etag, body)
    response = Response(body, mimetype="text/calendar", headers=headers)
    response.set_etag(etag, weak=True)
    return response


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
