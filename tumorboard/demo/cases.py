"""Demo cases: registered cases on the next two sessions of every board (synthetic patients only), with umlauts,
one late registration (Nachmeldung) and one question long enough to need two lines on the agenda."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.auth.actors import Actor
from tumorboard.auth.models import Role, User
from tumorboard.cases.models import ConferenceType
from tumorboard.cases.services import CaseInput, PatientInput, add_case, resolve_patient
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board
from tumorboard.patients.models import Sex

FAMILY = (
    "Müller",
    "Schröder",
    "Weißenfels",
    "Özdemir",
    "Brüggemann",
    "Jäger",
    "Kowalski",
    "Lüdtke",
    "Nguyen",
    "Schäfer",
    "Hübner",
    "Krämer",
    "Fuchs",
    "Gößling",
    "Yıldız",
    "Peters",
    "Böhm",
    "Wójcik",
    "Dreßler",
    "Albers",
    "Köhler",
    "Strauß",
    "Bauer",
    "Engin",
)
GIVEN_F = ("Hannelore", "Ayşe", "Elisabeth", "Sophie", "Jördis", "Gül", "Marie", "Anneliese", "Zoë", "Käthe")
GIVEN_M = ("Jürgen", "Günther", "Paweł", "Björn", "Minh", "Hans-Peter", "Ömer", "Lukas", "Erwin", "Jörg")

#: (ICD-10-GM, text, ICD-O, TNM) per board short name
DIAGNOSES: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "Viszeral": (
        ("C18.7", "Adenokarzinom des Colon sigmoideum", "8140/3", "cT3 cN1 cM0"),
        ("C25.0", "Pankreaskopfkarzinom", "8500/3", "cT2 cN0 cM0"),
    ),
    "Gyn": (("C56", "Ovarialkarzinom", "8461/3", "FIGO IIIC"), ("C54.1", "Endometriumkarzinom", "8380/3", "pT1b")),
    "Haut": (
        ("C43.5", "Malignes Melanom des Rumpfes", "8721/3", "pT2a pN0"),
        ("C44.3", "Plattenepithelkarzinom der Gesichtshaut", "8070/3", "cT2"),
    ),
    "Kopf-Hals": (
        ("C32.0", "Glottiskarzinom", "8070/3", "cT2 cN0 cM0"),
        ("C01", "Zungengrundkarzinom", "8070/3", "cT3 cN2b"),
    ),
    "Lunge": (
        ("C34.1", "Adenokarzinom des Oberlappens", "8140/3", "cT2a cN2 cM0"),
        ("C34.3", "Plattenepithelkarzinom des Unterlappens", "8070/3", "cT3 cN0 cM0"),
    ),
    "Neuro": (("C71.1", "Glioblastom frontal", "9440/3", ""), ("C79.3", "Hirnmetastase", "8140/6", "")),
    "Prostata": (
        ("C61", "Prostatakarzinom", "8140/3", "cT2c cN0 cM0"),
        ("C61", "Prostatakarzinom, Rezidiv", "8140/3", "rcN1"),
    ),
    "Brust": (
        ("C50.4 L", "Mammakarzinom oberer äußerer Quadrant links", "8500/3", "cT2 cN1 cM0"),
        ("C50.2 R", "Mammakarzinom oberer innerer Quadrant rechts", "8520/3", "pT1c pN0"),
    ),
    "Kinder": (("C64", "Nephroblastom", "8960/3", ""), ("C71.6", "Medulloblastom", "9470/3", "")),
}
QUESTIONS = (
    "Primäre Operation oder neoadjuvante Therapie?",
    "Adjuvante Therapie indiziert?",
    "Weiteres Vorgehen nach Abschluss der Radiochemotherapie?",
)
#: A question that needs two lines on the agenda.
LONG_QUESTION = (
    "Bei Progress unter Zweitlinientherapie und gutem Allgemeinzustand: Ist eine Studienteilnahme möglich, "
    "oder empfiehlt die Konferenz eine lokale Therapie der singulären Metastase mit anschließender Erhaltung?"
)


def load_demo_cases(session: Session, boards: Sequence[Board], *, at: dt.datetime, actor: Actor) -> int:
    """Two or three cases on each of the next two sessions of every board (about 45 cases)."""
    physicians = list(session.scalars(select(User).where(User.role == Role.PHYSICIAN).order_by(User.id)))
    coordinator = session.scalar(select(User).where(User.role == Role.COORDINATOR))
    assert physicians and coordinator is not None
    number = 0
    late_done = False
    for b_index, board in enumerate(boards):
        today = at.astimezone(BERLIN).date()
        start, end = conf.day_range(today, today + dt.timedelta(weeks=6))
        # the next two sessions whose registration deadline is still open
        upcoming = [
            cs
            for cs in conf.sessions_between(session, start, end, board=board)
            if cs.takes_place and conf.registration_deadline(cs) > at
        ][:2]
        for s_index, cs in enumerate(upcoming):
            for c_index in range(2 + (b_index + s_index) % 2):
                number += 1
                female = board.short_name in ("Gyn", "Brust") or number % 2 == 0
                given = (GIVEN_F if female else GIVEN_M)[number % 10]
                family = "=Formel" if number == 7 else FAMILY[number % len(FAMILY)]  # CSV injection check
                birth = dt.date(1940 + (number * 7) % 55, 1 + number % 12, 1 + (number * 3) % 28)
                if board.short_name == "Kinder":
                    birth = dt.date(2012 + number % 10, 1 + number % 12, 1 + number % 28)
                patient = resolve_patient(
                    session,
                    PatientInput(
                        family_name=family,
                        given_name=given,
                        birth_date=birth,
                        sex=Sex.FEMALE if female else Sex.MALE,
                        patient_number=f"KIS-{910000 + number}",
                    ),
                    partner=None,
                    at=at,
                    actor=actor,
                )
                code, text, morph, tnm = DIAGNOSES[board.short_name][(s_index + c_index) % 2]
                registrar, when = physicians[number % len(physicians)], at
                if not late_done and board.short_name == "Viszeral" and s_index == 0 and c_index == 1:
                    # arrived one minute after the deadline; the coordinator put it on this session anyway
                    registrar, when, late_done = (
                        coordinator,
                        conf.registration_deadline(cs) + dt.timedelta(minutes=1),
                        True,
                    )
                add_case(
                    session,
                    board=board,
                    patient=patient,
                    target=cs,
                    registered_by=registrar,
                    at=when,
                    actor=actor,
                    data=CaseInput(
                        icd10_code=code,
                        icd10_text=text,
                        conference_type=(ConferenceType.PRAETH, ConferenceType.POSTOP, ConferenceType.POSTTH)[
                            number % 3
                        ],
                        question=LONG_QUESTION if number == 3 else QUESTIONS[number % len(QUESTIONS)],
                        icdo_morphology=morph,
                        tnm=tnm or None,
                        ecog=number % 3,
                        presenter_id=physicians[(number + 1) % len(physicians)].id,
                        imaging_expected=number % 3 == 0,
                    ),
                )
    return number
