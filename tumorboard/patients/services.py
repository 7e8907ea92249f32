"""Patients: creation and search. Only synthetic patients in this repository."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.clock import BERLIN
from tumorboard.errors import Conflict, InvalidInput, NotFound
from tumorboard.hygiene import check_text
from tumorboard.i18n import N_
from tumorboard.partners.models import Partner
from tumorboard.patients.models import Patient, Sex
from tumorboard.patients.names import fold, name_key
from tumorboard.text import nfc

PATIENT_NUMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")
#: Institutionskennzeichen of a health insurer: 9 digits.
IKNR_RE = re.compile(r"[0-9]{9}")  # ASCII digits only: \d would also take Arabic-Indic digits
#: Krankenversichertennummer (statutory insurance, eGK): a capital letter and 9 digits (the last a check digit).
INSURANCE_NUMBER_RE = re.compile(r"[A-Z][0-9]{9}")


def create_patient(
    session: Session,
    *,
    family_name: str,
    given_name: str,
    birth_date: dt.date,
    sex: Sex | str,
    patient_number: str,
    at: dt.datetime,
    actor: Actor,
    partner: Partner | None = None,
    partner_patient_id: str | None = None,
) -> Patient:
    """Create a patient. The audit event records the internal ids only (data minimisation)."""
    check_text(family_name, field="family_name")
    check_text(given_name, field="given_name")
    check_text(partner_patient_id, field="partner_patient_id")
    family, given = " ".join(nfc(family_name).split()), " ".join(nfc(given_name).split())
    if not family or not given or len(family) > 120 or len(given) > 120:
        raise InvalidInput(N_("Bitte Nach- und Vornamen angeben (je höchstens 120 Zeichen)."), field="family_name")
    today = at.astimezone(BERLIN).date()
    if birth_date > today:
        raise InvalidInput(N_("Das Geburtsdatum liegt in der Zukunft."), field="birth_date")
    if birth_date < dt.date(1890, 1, 1):
        raise InvalidInput(N_("Das Geburtsdatum ist unplausibel."), field="birth_date")
    try:
        sex = Sex(sex)
    except ValueError:
        raise InvalidInput(N_("Unbekanntes Geschlecht."), field="sex") from None
    number = patient_number.strip()
    if not PATIENT_NUMBER_RE.match(number):
        raise InvalidInput(
            N_("Die Patientennummer darf nur Buchstaben, Ziffern und . _ / - enthalten (höchstens 40 Zeichen)."),
            field="patient_number",
        )
    if session.scalar(select(Patient.id).where(Patient.patient_number == number)) is not None:
        raise Conflict(N_("Diese Patientennummer ist schon vergeben."), field="patient_number")
    partner_pid = (partner_patient_id or "").strip() or None
    if partner_pid and partner is None:
        raise InvalidInput(N_("Eine Patienten-ID des Partners braucht den Partner."), field="partner_patient_id")
    patient = Patient(
        family_name=family,
        given_name=given,
        name_key=name_key(family, given),
        birth_date=birth_date,
        sex=sex,
        patient_number=number,
        partner_id=partner.id if partner else None,
        partner_patient_id=partner_pid,
        created_at=at,
    )
    session.add(patient)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.PATIENT_CREATE,
        subject_type=SubjectType.PATIENT,
        subject_id=patient.id,
        at=at,
        after={"partner_id": patient.partner_id},
    )
    return patient


def get_patient(session: Session, patient_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(N_("Diesen Patienten gibt es nicht."))
    return patient


def _parse_birth_date(text: str) -> dt.date | None:
    for fmt in ("%d.%m.%Y", "%Y-%m-%d", "%d.%m.%y"):
        try:
            return dt.datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    return None


def search_patients(session: Session, query: str, *, limit: int = 50) -> Sequence[Patient]:
    """By name (umlaut- and case-insensitive, any order of words), patient number or birth date (TT.MM.JJJJ)."""
    text = query.strip()
    if len(text) < 2:
        return []
    conditions = []
    birth = _parse_birth_date(text)
    if birth is not None:
        conditions.append(Patient.birth_date == birth)
    conditions.append(Patient.patient_number == text)
    conditions.append(Patient.partner_patient_id == text)
    words = fold(text).split()
    if words and birth is None:
        conditions.append(and_(*(Patient.name_key.contains(w, autoescape=True) for w in words)))
    return session.scalars(
        select(Patient).where(or_(*conditions)).order_by(Patient.family_name, Patient.given_name).limit(limit)
    ).all()


def update_registry_data(
    session: Session,
    patient: Patient,
    *,
    insurer_iknr: str | None,
    insurance_number: str | None,
    date_of_death: dt.date | None,
    at: dt.datetime,
    actor: Actor,
) -> Patient:
    """Set the optional fields the cancer registry needs: the insurer's IKNR (9 digits), the insurance number
    (a letter and 9 digits) and the date of death. Empty text clears a field. Everything is checked before
    anything changes, so a refused input leaves the patient as it was. The audit event names which fields
    changed, never their values (data minimisation)."""
    iknr = (insurer_iknr or "").replace(" ", "") or None
    if iknr is not None and not IKNR_RE.fullmatch(iknr):
        raise InvalidInput(
            N_("Das Institutionskennzeichen (IKNR) der Krankenkasse besteht aus genau 9 Ziffern."),
            field="insurer_iknr",
        )
    number = (insurance_number or "").replace(" ", "").upper() or None
    if number is not None and not INSURANCE_NUMBER_RE.fullmatch(number):
        raise InvalidInput(
            N_("Die Versichertennummer besteht aus einem Großbuchstaben und 9 Ziffern (z. B. A123456789)."),
            field="insurance_number",
        )
    if number is not None and iknr is None:
        raise InvalidInput(N_("Eine Versichertennummer braucht das IKNR der Krankenkasse."), field="insurer_iknr")
    today = at.astimezone(BERLIN).date()
    if date_of_death is not None and date_of_death > today:
        raise InvalidInput(N_("Das Sterbedatum liegt in der Zukunft."), field="date_of_death")
    if date_of_death is not None and date_of_death < patient.birth_date:
        raise InvalidInput(N_("Das Sterbedatum liegt vor dem Geburtsdatum."), field="date_of_death")
    values = {"insurer_iknr": iknr, "insurance_number": number, "date_of_death": date_of_death}
    changed = sorted(k for k, v in values.items() if getattr(patient, k) != v)
    if not changed:
        return patient
    for key, value in values.items():
        setattr(patient, key, value)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.PATIENT_REGISTRY_UPDATE,
        subject_type=SubjectType.PATIENT,
        subject_id=patient.id,
        at=at,
        after={"changed": changed},
    )
    return patient


def get_patient_by_number(session: Session, number: str) -> Patient:
    patient = session.scalar(select(Patient).where(Patient.patient_number == number.strip()))
    if patient is None:
        raise NotFound(N_("Diesen Patienten gibt es nicht."))
    return patient
