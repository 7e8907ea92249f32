from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class IndicatorForm(FlaskForm):  # type: ignore[misc]
    #: "" = default for every board, else a board id.
    board = SelectField(_l("Gilt für"), choices=[], validate_choice=False)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    numerator = TextAreaField(_l("Zähler"), validators=[DataRequired(), Length(max=2000)])
    denominator = TextAreaField(_l("Nenner"), validators=[DataRequired(), Length(max=2000)])
    target_percent = DecimalField(_l("Ziel (Prozent)"), places=None, validators=[Optional(), NumberRange(0, 100)])
    target_direction = SelectField(
        _l("Richtung"),
        choices=[SelectChoice("at_least", _l("mindestens")), SelectChoice("at_most", _l("höchstens"))],
    )
    working_days = IntegerField(_l("Arbeitstage (nur Q1)"), validators=[Optional(), NumberRange(0, 60)])
    cohort_rule = TextAreaField(
        _l("Nenner-Einschränkung (nur P1–P3)"),
        description=_l("z. B. „ICD=C19,C20 elektiv | ICD=C18 UICC=IV elektiv“; leer: alle Primärfälle"),
        validators=[Length(max=1000)],
    )
    source = StringField(_l("Quelle der Definition"), validators=[Length(max=1000)])
    reason = TextAreaField(_l("Grund der Änderung"), validators=[Length(max=1000)])
