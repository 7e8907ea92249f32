from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from tumorboard.forms import BaseForm, coerce_id

REQUIRED = _l("Pflichtfeld")


class CaseFieldsForm(BaseForm):
    """The case fields a registration sets and an edit corrects (one definition for both forms)."""

    icd10_code = StringField(_l("ICD-10-GM"), validators=[DataRequired(REQUIRED), Length(max=20)])
    icd10_text = StringField(_l("Diagnose (Text)"), validators=[DataRequired(REQUIRED), Length(max=300)])
    icdo_morphology = StringField(_l("ICD-O-Morphologie"), validators=[Length(max=10)])
    tnm = StringField(_l("TNM"), validators=[Length(max=100)])
    ecog = IntegerField(_l("ECOG"), validators=[Optional(), NumberRange(0, 5)])
    conference_type = SelectField(
        _l("Art der Vorstellung"),
        choices=[
            SelectChoice("praeth", _l("prätherapeutisch")),
            SelectChoice("postop", _l("postoperativ")),
            SelectChoice("postth", _l("posttherapeutisch")),
            SelectChoice("ther", _l("Therapieplanung")),
        ],
    )
    #: Required, and checked with the other fields, so all errors show at once next to their fields (issue 13).
    question = TextAreaField(
        _l("Fragestellung an die Konferenz"),
        validators=[
            DataRequired(_l("Bitte die Fragestellung an die Konferenz angeben.")),
            Length(min=5, max=4000, message=_l("Die Fragestellung hat 5 bis 4000 Zeichen.")),
        ],
    )
    accession_number = StringField(_l("Accession Number der Bildgebung"), validators=[Length(max=64)])
    imaging_expected = BooleanField(_l("Externe Bildgebung wird erwartet"))


class RegisterCaseForm(CaseFieldsForm):
    board = SelectField(_l("Konferenz"), coerce=int, validators=[InputRequired(REQUIRED)])
    session = SelectField(_l("Sitzung"), coerce=int, validators=[Optional()])
    family_name = StringField(_l("Nachname"), validators=[DataRequired(REQUIRED), Length(max=120)])
    given_name = StringField(_l("Vorname"), validators=[DataRequired(REQUIRED), Length(max=120)])
    birth_date = DateField(_l("Geburtsdatum"), validators=[InputRequired(_l("Bitte ein gültiges Datum angeben."))])
    sex = SelectField(
        _l("Geschlecht"),
        choices=[
            SelectChoice("W", _l("weiblich")),
            SelectChoice("M", _l("männlich")),
            SelectChoice("D", _l("divers")),
            SelectChoice("U", _l("unbekannt")),
        ],
    )
    patient_number = StringField(_l("Patientennummer (KIS)"), validators=[DataRequired(REQUIRED), Length(max=40)])
    referring_partner = SelectField(_l("Zuweiser"), coerce=int)
    partner_patient_id = StringField(_l("Patienten-ID beim Partner"), validators=[Length(max=64)])
    diagnosis_date = DateField(_l("Diagnosedatum"), validators=[Optional()])
    presenter = SelectField(_l("Vorstellende Ärztin / vorstellender Arzt"), coerce=int)
    confirm_duplicate = BooleanField(_l("Trotzdem anmelden"))
    #: A study from the imaging inbox that the new case takes over (triage: "Neuen Fall aus dieser Studie").
    from_study = IntegerField(widget=HiddenInput(), validators=[Optional()])


class RegistryDataForm(BaseForm):
    """The patient's registry fields (issue 15); checked by patients.services.update_registry_data."""

    insurer_iknr = StringField(_l("IKNR der Krankenkasse"), validators=[Length(max=20)])
    insurance_number = StringField(_l("Versichertennummer"), validators=[Length(max=20)])
    date_of_death = DateField(_l("Sterbedatum"), validators=[Optional()])


class ReasonForm(BaseForm):
    reason = TextAreaField(_l("Grund"), validators=[Length(max=1000)])


class MoveCaseForm(BaseForm):
    # the service explains why a target is refused (cancelled, past), so any session id is accepted here
    target = SelectField(
        _l("Zielsitzung"), coerce=coerce_id, validators=[InputRequired(REQUIRED)], validate_choice=False
    )
    reason = TextAreaField(_l("Grund"), validators=[Length(max=1000)])
    #: the case's version when the page was drawn (``cases.services.case_version``): a stale page is refused
    seen = HiddenField()


class StatusForm(BaseForm):
    status = HiddenField(validators=[DataRequired()])


class PresenterForm(BaseForm):
    presenter = SelectField(_l("Vorstellende Ärztin / vorstellender Arzt"), coerce=int)


class OrderForm(BaseForm):
    order = HiddenField(validators=[DataRequired()])


class DocumentForm(BaseForm):
    kind = SelectField(
        _l("Art"),
        choices=[
            SelectChoice("pathology", _l("Pathologiebefund")),
            SelectChoice("finding", _l("Befund")),
            SelectChoice("letter", _l("Arztbrief")),
            SelectChoice("other", _l("Sonstiges")),
        ],
    )
    file = FileField(_l("PDF-Datei (höchstens 20 MB)"), validators=[FileRequired(_l("Bitte eine Datei wählen."))])


class ChecklistConfigForm(BaseForm):
    items = TextAreaField(_l("Checkliste"), validators=[Length(max=4000)])


class EditCaseForm(CaseFieldsForm):
    """The registration's case fields, for corrections (issue 13)."""

    #: the case's version when the page was drawn (``cases.services.case_version``): a stale page is refused
    seen = HiddenField()

    reason = TextAreaField(_l("Grund (nötig, wenn die Tagesordnung eingefroren ist)"), validators=[Length(max=1000)])
