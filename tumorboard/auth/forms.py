from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):  # type: ignore[misc]
    username = StringField(_l("Benutzername"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Passwort"), validators=[DataRequired(), Length(max=200)])


class LanguageForm(FlaskForm):  # type: ignore[misc]
    locale = HiddenField(validators=[DataRequired()])


class EmptyForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: for buttons that post."""
