from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from tumorboard.forms import BaseForm


class LoginForm(BaseForm):
    username = StringField(_l("Benutzername"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Passwort"), validators=[DataRequired(), Length(max=200)])


class LanguageForm(BaseForm):
    locale = HiddenField(validators=[DataRequired()])


class EmptyForm(BaseForm):
    """Only the CSRF token: for buttons that post."""
