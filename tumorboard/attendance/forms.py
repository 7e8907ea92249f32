from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from tumorboard.forms import BaseForm

TIME = Regexp(r"^\d{1,2}:\d{2}$", message=_l("Bitte die Uhrzeit als HH:MM angeben."))


class _CheckInBase(BaseForm):
    mode = RadioField(
        _l("Teilnahme"),
        choices=[SelectChoice("in_person", _l("vor Ort")), SelectChoice("video", _l("Video"))],
        default="in_person",
    )
    arrived_at = StringField(_l("Ankunft (HH:MM, leer = jetzt)"), validators=[Optional(), TIME])
    stands_in_for_name = StringField(_l("vertritt (Name)"), validators=[Optional(), Length(max=200)])
    #: Choices: "" and the centre's discipline list (set by the page); the service checks the value.
    stands_in_for_discipline = SelectField(_l("vertritt (Fachrichtung)"), choices=[], validate_choice=False)


class CheckInForm(_CheckInBase):
    user = SelectField(_l("Ärztin/Arzt"), coerce=int, validators=[DataRequired()])


class ExternalCheckInForm(_CheckInBase):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    institution = StringField(_l("Institution"), validators=[Optional(), Length(max=200)])
    #: Choices: the centre's discipline list and "sonstige" (set by the page); the service checks the value.
    discipline = SelectField(_l("Fachrichtung"), choices=[], validate_choice=False)
    other_discipline = StringField(
        _l("sonstige Fachrichtung (zählt nicht für das Quorum)"), validators=[Optional(), Length(max=100)]
    )
    efn = StringField(_l("EFN (15 Ziffern, optional)"), validators=[Optional(), Length(max=40)])


class SelfCheckInForm(_CheckInBase):
    pass


class LeaveForm(BaseForm):
    left_at = StringField(_l("Gegangen um (HH:MM, leer = jetzt)"), validators=[Optional(), TIME])


class CorrectForm(BaseForm):
    arrived_at = StringField(_l("Ankunft (HH:MM)"), validators=[Optional(), TIME])
    left_at = StringField(_l("Gegangen (HH:MM, leer = unverändert)"), validators=[Optional(), TIME])
    mode = RadioField(
        _l("Teilnahme"),
        choices=[SelectChoice("in_person", _l("vor Ort")), SelectChoice("video", _l("Video"))],
        default="in_person",
    )
    discipline = SelectField(_l("Fachrichtung"), choices=[], validate_choice=False)
    other_discipline = StringField(_l("sonstige Fachrichtung"), validators=[Optional(), Length(max=100)])
    reason = StringField(_l("Grund der Korrektur"), validators=[Length(max=1000)])


class UndoForm(BaseForm):
    reason = StringField(_l("Grund der Rücknahme"), validators=[Length(max=1000)])
