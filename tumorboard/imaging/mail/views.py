"""Quarantine of refused mails for coordinators; the raw mail for admins. Thin: load, authorize, one service."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import IntegerField
from wtforms.validators import InputRequired, NumberRange

from tumorboard.auth.permissions import can_manage_partners, can_triage_imaging
from tumorboard.errors import NotFound, TumorboardError
from tumorboard.i18n import N_
from tumorboard.imaging.mail import quarantine
from tumorboard.imaging.mail.intake import RawStore
from tumorboard.imaging.mail.mime import REASON_TEXT
from tumorboard.partners.models import Partner
from tumorboard.text import MAX_ID
from tumorboard.web.errors import message
from tumorboard.web.request_session import db, runtime
from tumorboard.web.security import current_actor, now, requires

bp = Blueprint("mail", __name__, url_prefix="/imaging/mail")

Page = str | tuple[str, int] | Response


class ReleaseForm(FlaskForm):  # type: ignore[misc]
    partner_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=MAX_ID)])  # SQLite: 64 bit


class DiscardForm(FlaskForm):  # type: ignore[misc]
    pass


@bp.route("/quarantine")
@requires(can_triage_imaging)
def quarantine_list() -> Page:
    partners = db().scalars(select(Partner).where(Partner.active.is_(True)).order_by(Partner.name)).all()
    return render_template(
        "imaging/mail_quarantine.html",
        mails=quarantine.list_quarantine(db()),
        partners=partners,
        reasons=REASON_TEXT,
        release_form=ReleaseForm(),
        discard_form=DiscardForm(),
    )


@bp.route("/<int:mail_id>/release", methods=["POST"])
@requires(can_triage_imaging)
def release(mail_id: int) -> Page:
    mail = quarantine.get_mail(db(), mail_id)
    form = ReleaseForm()
    if not form.validate_on_submit():
        flash(_("Bitte einen Partner wählen."), "error")
        return redirect(url_for("mail.quarantine_list"))
    partner = db().get(Partner, form.partner_id.data)
    if partner is None:
        raise NotFound(N_("Diesen Partner gibt es nicht."))
    try:
        count = quarantine.release_mail(db(), mail, partner, at=now(), actor=current_actor())
    except TumorboardError as err:
        db().rollback()
        flash(message(err), "error")
        return redirect(url_for("mail.quarantine_list"))
    db().commit()
    if mail.partial_id is None:
        flash(_("Mail freigegeben; sie wird beim nächsten Abruf erneut verarbeitet."), "success")
    else:
        flash(
            _(
                "%(count)d Teilnachrichten freigegeben; sie werden übernommen, sobald die Nachricht vollständig ist.",
                count=count,
            ),
            "success",
        )
    return redirect(url_for("mail.quarantine_list"))


@bp.route("/<int:mail_id>/discard", methods=["POST"])
@requires(can_triage_imaging)
def discard(mail_id: int) -> Page:
    mail = quarantine.get_mail(db(), mail_id)
    if not DiscardForm().validate_on_submit():
        flash(_("Das Formular ist abgelaufen; bitte erneut versuchen."), "error")
        return redirect(url_for("mail.quarantine_list"))
    try:
        count = quarantine.discard_mail(db(), mail, at=now(), actor=current_actor())
    except TumorboardError as err:
        db().rollback()
        flash(message(err), "error")
        return redirect(url_for("mail.quarantine_list"))
    db().commit()
    flash(_("Mail verworfen.") if count == 1 else _("%(count)d Mails verworfen.", count=count), "success")
    return redirect(url_for("mail.quarantine_list"))


@bp.route("/<int:mail_id>/raw")
@requires(can_manage_partners)
def raw(mail_id: int) -> Page:
    """The mail exactly as fetched (encrypted as it arrived), for admins."""
    mail = quarantine.get_mail(db(), mail_id)
    path = RawStore(runtime().mail.raw_path).path(mail.sha256)
    if not path.is_file():
        raise NotFound(N_("Die Rohdaten dieser Mail liegen nicht mehr vor."))
    quarantine.record_raw_download(db(), mail, at=now(), actor=current_actor())
    db().commit()
    return send_file(path, mimetype="message/rfc822", as_attachment=True, download_name=f"mail-{mail.id}.eml")
