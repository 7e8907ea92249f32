"""Admin pages for partner sites and their DICOM senders. Thin: load, authorize, one service call, commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from tumorboard.auth.permissions import can_manage_partners
from tumorboard.errors import NotFound, TumorboardError
from tumorboard.i18n import N_
from tumorboard.partners import services
from tumorboard.partners.forms import DeleteForm, EndpointForm, MailSenderForm, PartnerForm
from tumorboard.partners.models import PartnerEndpoint, PartnerMailSender
from tumorboard.web.errors import message, status_of
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, now, requires

bp = Blueprint("partners", __name__, url_prefix="/admin/partners")

Page = str | tuple[str, int] | Response


def _page(form: PartnerForm | None = None, error: str | None = None, code: int = 200) -> tuple[str, int]:
    return (
        render_template(
            "partners/list.html",
            partners=services.list_partners(db()),
            form=form or PartnerForm(),
            endpoint_form=EndpointForm(),
            mail_form=MailSenderForm(),
            delete_form=DeleteForm(),
            error=error,
        ),
        code,
    )


def _saved(change: Callable[[], object], done: str, form: PartnerForm | None = None) -> Page:
    """Run one service call: a refusal rolls back and shows the page with its message and status, else commit,
    flash ``done`` and back to the list."""
    try:
        change()
    except TumorboardError as err:
        db().rollback()
        return _page(form, message(err), status_of(err))
    db().commit()
    flash(done, "success")
    return redirect(url_for("partners.index"))


def _removed(model: type[Any], row_id: int, missing: str, remove: Callable[..., object], done: str) -> Page:
    """Delete one sender row (endpoint or mail sender) through its service, after the form's CSRF check."""
    row = db().get(model, row_id)
    if row is None:
        raise NotFound(missing)
    if not DeleteForm().validate_on_submit():
        return _page(error=_("Das Formular ist ungültig."), code=400)
    return _saved(lambda: remove(db(), row, at=now(), actor=current_actor()), done)


@bp.route("")
@requires(can_manage_partners)
def index() -> Page:
    return _page()


@bp.route("", methods=["POST"])
@requires(can_manage_partners)
def create() -> Page:
    form = PartnerForm()
    if not form.validate_on_submit():
        return _page(form, _("Bitte die Eingaben prüfen."), 422)
    return _saved(
        lambda: services.create_partner(
            db(),
            name=form.name.data or "",
            contact=form.contact.data or "",
            quiet_period_seconds=form.quiet_period.data or 120,
            at=now(),
            actor=current_actor(),
        ),
        _("Partner angelegt."),
        form,
    )


@bp.route("/<int:partner_id>/endpoints", methods=["POST"])
@requires(can_manage_partners)
def add_endpoint(partner_id: int) -> Page:
    partner = services.get_partner(db(), partner_id)
    form = EndpointForm()
    if not form.validate_on_submit():
        return _page(error=_("Bitte AE-Titel und Adresse angeben."), code=422)
    return _saved(
        lambda: services.add_endpoint(
            db(),
            partner,
            ae_title=form.ae_title.data or "",
            address=form.address.data or "",
            at=now(),
            actor=current_actor(),
        ),
        _("Absender eingetragen."),
    )


@bp.route("/endpoints/<int:endpoint_id>/delete", methods=["POST"])
@requires(can_manage_partners)
def delete_endpoint(endpoint_id: int) -> Page:
    return _removed(
        PartnerEndpoint,
        endpoint_id,
        N_("Diesen Absender gibt es nicht."),
        services.remove_endpoint,
        _("Absender entfernt."),
    )


@bp.route("/<int:partner_id>/mail-senders", methods=["POST"])
@requires(can_manage_partners)
def add_mail_sender(partner_id: int) -> Page:
    """A DICOM E-Mail sender with its pinned key (the key text, when given, is imported into our GnuPG home)."""
    from tumorboard.imaging.mail.senders import register_mail_senders

    partner = services.get_partner(db(), partner_id)
    form = MailSenderForm()
    if not form.validate_on_submit():
        return _page(error=_("Bitte Adresse und Fingerabdruck angeben."), code=422)
    key = (form.pgp_key.data or "").strip().encode()
    return _saved(
        lambda: register_mail_senders(
            runtime(),
            db(),
            partner,
            [form.address.data or ""],
            form.pgp_fingerprint.data or "",
            key or None,
            at=now(),
            actor=current_actor(),
        ),
        _("Mail-Absender eingetragen."),
    )


@bp.route("/mail-senders/<int:mail_sender_id>/delete", methods=["POST"])
@requires(can_manage_partners)
def delete_mail_sender(mail_sender_id: int) -> Page:
    return _removed(
        PartnerMailSender,
        mail_sender_id,
        N_("Diesen Mail-Absender gibt es nicht."),
        services.remove_mail_sender,
        _("Mail-Absender entfernt."),
    )
