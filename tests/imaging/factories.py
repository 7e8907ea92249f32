"""Cases for imaging tests, built directly on the models (independent of the case registration services)."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from tests.conftest import NOW
from tests.factories import make_board, make_user
from tests.imaging.dicomfiles import ct_dataset
from tumorboard.auth.actors import CLI, Actor
from tumorboard.cases.models import Case, CaseStatus, ConferenceType
from tumorboard.conferences.services import generate_sessions
from tumorboard.imaging.dicom.spool import Spool
from tumorboard.imaging.models import ImagingStudy
from tumorboard.imaging.synthetic import store_as_received
from tumorboard.partners.models import Partner
from tumorboard.patients.models import Patient
from tumorboard.patients.services import create_patient

_seq = itertools.count(1)
LISTENER = Actor.system("dicom-listener")


def make_case(
    session: Session,
    at: dt.datetime,
    *,
    family: str = "Testmann",
    given: str = "Erika",
    birth: dt.date = dt.date(1960, 1, 1),
    patient_number: str | None = None,
    partner: Partner | None = None,
    partner_patient_id: str | None = None,
    accession: str | None = None,
    imaging_expected: bool = True,
    status: CaseStatus = CaseStatus.REGISTERED,
    patient: Patient | None = None,
    session_offset_weeks: int = 0,
) -> Case:
    n = next(_seq)
    if patient is None:
        patient = create_patient(
            session,
            family_name=family,
            given_name=given,
            birth_date=birth,
            sex="W",
            patient_number=patient_number or f"K{n:06d}",
            partner=partner,
            partner_patient_id=partner_patient_id,
            at=at,
            actor=CLI,
        )
    board = make_board(session, at)
    user = make_user(session, at, role="coordinator")
    start = (at - dt.timedelta(days=90)).date()
    sessions = generate_sessions(
        session, start=start, end=start + dt.timedelta(weeks=30), at=at, actor=CLI, boards=[board]
    )
    sessions.sort(key=lambda cs: cs.starts_at)
    upcoming = [cs for cs in sessions if cs.starts_at >= at]
    past = [cs for cs in sessions if cs.starts_at < at]
    target = upcoming[session_offset_weeks] if session_offset_weeks >= 0 else past[session_offset_weeks]
    case = Case(
        patient=patient,
        board=board,
        session=target,
        position=1,
        icd10_code="C34.1",
        icd10_text="Bösartige Neubildung: Oberlappen",
        conference_type=ConferenceType.PRAETH,
        question="Therapieempfehlung?",
        registered_by_id=user.id,
        referring_partner=partner,
        accession_number=accession,
        imaging_expected=imaging_expected,
        status=status,
        registered_at=at,
        updated_at=at,
    )
    session.add(case)
    session.flush()
    return case


def receive(
    session, spool: Spool, partner: Partner, *, at=NOW, number=1, study_uid="1.2.826.0.1.1", series_uid=None, **kw
):
    """Write a synthetic instance the way the listener does and index it."""
    ds = ct_dataset(study_uid=study_uid, series_uid=series_uid or study_uid + ".1", number=number, **kw)
    result = store_as_received(
        session, spool, ds, partner_id=partner.id, calling_ae_title="NORD", at=at, actor=LISTENER
    )
    study = session.get(ImagingStudy, result.study_id)
    assert study is not None
    session.refresh(study)
    return study
