from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from tumorboard.forms import BaseForm


class PartnerForm(BaseForm):
    name = StringField(_l("Name des Partners"), validators=[DataRequired(), Length(max=200)])
    contact = StringField(_l("Kontakt"), validators=[Length(max=500)])
    quiet_period = IntegerField(_l("Ruhezeit (Sekunden)"), default=120, validators=[Optional(), NumberRange(5, 86400)])


class EndpointForm(BaseForm):
    ae_title = StringField(_l("AE-Titel"), validators=[DataRequired(), Length(max=16)])
    address = StringField(_l("IP-Adresse oder Netz"), validators=[DataRequired(), Length(max=64)])


class DeleteForm(BaseForm):
    pass


class MailSenderForm(BaseForm):
    address = StringField(_l("E-Mail-Adresse des Absenders"), validators=[DataRequired(), Length(max=254)])
    pgp_fingerprint = StringField(_l("OpenPGP-Fingerabdruck"), validators=[DataRequired(), Length(max=60)])
    pgp_key = TextAreaField(_l("Öffentlicher Schlüssel (ASCII)"), validators=[Optional(), Length(max=100_000)])
