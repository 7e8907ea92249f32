"""Factories for patients, cases and sessions (through the services, so data is valid and audited)."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.auth.services import actor_for
from tumorboard.cases.models import Case
from tumorboard.cases.services import CaseInput, add_case
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.patients.models import Patient
from tumorboard.patients.services import create_patient

_seq = itertools.count(1)


def make_patient(
    session: Session,
    at: dt.datetime,
    family_name: str = "Müller",
    given_name: str = "Jürgen",
    birth_date: dt.date = dt.date(1956, 3, 14),
    **kw: object,
) -> Patient:
    n = next(_seq)
    return create_patient(
        session,
        family_name=family_name,
        given_name=given_name,
        birth_date=birth_date,
        sex=str(kw.pop("sex", "M")),
        patient_number=str(kw.pop("patient_number", f"KIS-T{n:06d}")),
        at=at,
        actor=CLI,
    )


def case_input(**overrides: object) -> CaseInput:
    values: dict[str, object] = {
        "icd10_code": "C18.7",
        "icd10_text": "Bösartige Neubildung: Colon sigmoideum",
        "conference_type": "praeth",
        "question": "Neoadjuvante Therapie vor Resektion?",
    }
    values.update(overrides)
    return CaseInput(**values)  # type: ignore[arg-type]


def register(
    session: Session,
    board: Board,
    *,
    at: dt.datetime,
    by: User,
    patient: Patient | None = None,
    target: ConferenceSession | None = None,
    **overrides: object,
) -> Case:
    return add_case(
        session,
        board=board,
        patient=patient or make_patient(session, at),
        data=case_input(**overrides),
        registered_by=by,
        at=at,
        actor=actor_for(by),
        target=target,
    )


def upcoming_sessions(session: Session, board: Board, at: dt.datetime, weeks: int = 4) -> list[ConferenceSession]:
    """The board's sessions from ``at``'s Berlin day on, generated if needed."""
    today = at.astimezone(BERLIN).date()
    conf.generate_sessions(
        session, start=today, end=today + dt.timedelta(weeks=weeks), at=at, actor=CLI, boards=[board]
    )
    start, end = conf.day_range(today, today + dt.timedelta(weeks=weeks))
    return list(conf.sessions_between(session, start, end, board=board))
