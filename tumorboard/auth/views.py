"""Login, logout and language choice."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from tumorboard.auth.forms import LanguageForm, LoginForm
from tumorboard.auth.permissions import can_view_schedule
from tumorboard.auth.services import authenticate, end_sessions, set_locale
from tumorboard.errors import PermissionDenied
from tumorboard.web.errors import message
from tumorboard.web.request_session import db
from tumorboard.web.security import (
    client_address,
    current_actor,
    current_user,
    login_user,
    now,
    public,
    requires,
    throttle_policy,
)

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("conferences.overview")


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> str | Response | tuple[str, int]:
    form = LoginForm()
    if form.validate_on_submit():
        session_db = db()
        try:
            user = authenticate(
                session_db,
                username=form.username.data or "",
                password=form.password.data or "",
                address=client_address(),
                at=now(),
                policy=throttle_policy(),
            )
        except PermissionDenied as err:
            session_db.commit()  # the failed attempt counts towards the throttle
            return render_template("auth/login.html", form=form, error=message(err)), 401
        session_db.commit()
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form, error=None), status


@bp.route("/logout", methods=["POST"])
@requires(can_view_schedule)
def logout() -> Response:
    end_sessions(db(), current_user(), at=now(), actor=current_actor())
    db().commit()
    session.clear()
    flash(_("Sie sind abgemeldet."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/language", methods=["POST"])
@public
def language() -> Response:
    """Switch the UI language; stored on the account when logged in, else in the browser session."""
    form = LanguageForm()
    if form.validate_on_submit() and form.locale.data in ("de", "en"):
        session["locale"] = form.locale.data
        from flask import g

        if g.get("user") is not None:
            set_locale(db(), current_user(), form.locale.data, at=now())
            db().commit()
    return redirect(_safe_next(request.form.get("next")))
