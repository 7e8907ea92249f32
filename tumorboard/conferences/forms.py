from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, RadioField, SelectField, StringField, TextAreaField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from tumorboard.forms import BaseForm
from tumorboard.text import parse_id


class CasesChoiceForm(BaseForm):
    """What happens to the session's cases (issue 13); the template renders the choices with their own words."""

    cases = RadioField(
        _l("Was geschieht mit den Fällen?"),
        choices=[SelectChoice(v, v) for v in ("next", "chosen", "keep", "withdraw")],
        validate_choice=False,
    )
    target = SelectField(_l("Sitzung"), choices=[], validate_choice=False)

    def target_id(self) -> int | None:
        raw = self.target.data
        return parse_id(raw)


class CancelForm(CasesChoiceForm):
    reason = TextAreaField(_l("Grund der Absage"), validators=[Length(max=1000)])


class ReinstateForm(BaseForm):
    reason = TextAreaField(_l("Grund der Wiederaufnahme"), validators=[Length(max=1000)])


class MoveForm(CasesChoiceForm):
    date = DateField(_l("Neues Datum"), validators=[InputRequired(message=_l("Bitte ein Datum angeben."))])
    start = TimeField(_l("Beginn"), validators=[InputRequired(message=_l("Bitte eine Uhrzeit angeben."))])
    duration_minutes = IntegerField(_l("Dauer (Minuten)"), validators=[Optional(), NumberRange(5, 720)])
    reason = TextAreaField(_l("Grund der Verschiebung"), validators=[Length(max=1000)])


class ExtraSessionForm(BaseForm):
    date = DateField(_l("Datum"), validators=[InputRequired(message=_l("Bitte ein Datum angeben."))])
    start = TimeField(_l("Beginn"), validators=[InputRequired(message=_l("Bitte eine Uhrzeit angeben."))])
    duration_minutes = IntegerField(_l("Dauer (Minuten)"), validators=[Optional(), NumberRange(5, 720)])
    note = StringField(_l("Anlass"), validators=[Length(max=1000)])


class BoardForm(BaseForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    short_name = StringField(_l("Kurzname"), validators=[DataRequired(), Length(max=40)])
    center = StringField(_l("Zentrum"), validators=[DataRequired(), Length(max=200)])
    rrule = StringField(_l("Wiederholung (RRULE nach RFC 5545)"), validators=[DataRequired(), Length(max=500)])
    series_start = DateField(_l("Serie ab"), validators=[InputRequired()])
    start_time = TimeField(_l("Beginn"), validators=[InputRequired()])
    duration_minutes = IntegerField(_l("Dauer (Minuten)"), validators=[InputRequired(), NumberRange(5, 720)])
    room = StringField(_l("Raum"), validators=[Length(max=200)])
    video_url = StringField(_l("Videolink"), validators=[Length(max=500)])
    deadline_working_days = IntegerField(
        _l("Anmeldeschluss: Arbeitstage vorher"), validators=[InputRequired(), NumberRange(0, 10)]
    )
    deadline_time = TimeField(_l("Anmeldeschluss: Uhrzeit"), validators=[InputRequired()])
    holiday_policy = SelectField(
        _l("An Feiertagen (NRW)"),
        choices=[
            SelectChoice("skip", _l("Sitzung entfällt")),
            SelectChoice("keep_flag", _l("Sitzung findet statt, markiert")),
        ],
    )
    quorum = TextAreaField(_l("Pflicht-Fachrichtungen (Quorum)"), validators=[Length(max=4000)])
