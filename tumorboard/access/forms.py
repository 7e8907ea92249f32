from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length


class MemberForm(FlaskForm):  # type: ignore[misc]
    user = SelectField(_l("Ärztin/Arzt"), coerce=int, validators=[DataRequired()])
    role = SelectField(
        _l("Rolle in der Konferenz"),
        choices=[
            SelectChoice("member", _l("Mitglied")),
            SelectChoice("deputy", _l("Stellvertretung der Moderation")),
            SelectChoice("moderator", _l("Moderation")),
            SelectChoice("remove", _l("entfernen")),
        ],
        default="member",
    )


class EmergencyForm(FlaskForm):  # type: ignore[misc]
    reason = TextAreaField(_l("Grund des Notfallzugriffs"), validators=[Length(max=1000)])
    next = HiddenField()
