from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from tumorboard.forms import BaseForm


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc]
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RecommendationForm(BaseForm):
    therapy_types = MultiCheckboxField(_l("Therapietyp (oBDS)"), choices=[])
    text = TextAreaField(_l("Empfehlung"), validators=[Optional(), Length(max=20000)])
    trial_recommended = BooleanField(_l("Studie empfohlen"))
    trial_name = StringField(_l("Welche Studie"), validators=[Optional(), Length(max=300)])
    representation_wanted = BooleanField(_l("Wiedervorstellung erbeten"))
    representation_date = DateField(_l("Wiedervorstellung ab"), validators=[Optional()])
    representation_board = SelectField(_l("Wiedervorstellung in Konferenz"), coerce=int, choices=[])
    guideline_deviation = BooleanField(_l("Abweichung von der Leitlinie"))
    deviation_reason = TextAreaField(_l("Begründung der Abweichung"), validators=[Optional(), Length(max=5000)])
    quorum_reason = TextAreaField(_l("Begründung trotz fehlendem Quorum"), validators=[Optional(), Length(max=1000)])


class AmendForm(RecommendationForm):
    reason = TextAreaField(_l("Grund des Nachtrags"), validators=[Optional(), Length(max=2000)])
    password = PasswordField(_l("Passwort zur Bestätigung"), validators=[Optional(), Length(max=200)])


class SignForm(BaseForm):
    password = PasswordField(_l("Passwort zur Bestätigung"), validators=[Optional(), Length(max=200)])


class CorrectParticipantForm(BaseForm):
    attendance = SelectField(_l("Person"), coerce=int, choices=[])
    present = RadioField(
        _l("war bei diesem Fall"), choices=[SelectChoice("1", _l("anwesend")), SelectChoice("0", _l("nicht anwesend"))]
    )
    reason = StringField(_l("Grund der Korrektur"), validators=[Optional(), Length(max=1000)])


class FollowUpForm(BaseForm):
    status = RadioField(
        _l("Umsetzung"),
        choices=[SelectChoice("implemented", _l("umgesetzt")), SelectChoice("deviated", _l("abgewichen"))],
    )
    cause = SelectField(
        _l("Grund der Abweichung"),
        choices=[
            SelectChoice("", "—"),
            SelectChoice("medical", _l("medizinische Gründe")),
            SelectChoice("patient_wish", _l("Patientenwunsch")),
            SelectChoice("unknown", _l("unbekannt")),
        ],
    )
    note = TextAreaField(_l("Notiz"), validators=[Optional(), Length(max=5000)])
