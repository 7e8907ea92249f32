"""A period of board activity for QM tests, built fast: sessions come from the real series generator, everything
else (attendance, cases, recommendations, follow-ups, protocol signatures) is bulk-inserted with a seeded random
generator, so the same seed always gives the same record. Only for tests: it skips the services' checks on purpose
to produce also what the services would refuse later (undocumented sessions, deviations, late registrations)."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from tumorboard.attendance.models import Attendance, AttendanceMode
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.cases.models import Case, CaseStatus, ConferenceType
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board, ConferenceSession, SessionStatus
from tumorboard.imaging.models import ImagingStudy, MatchMethod, StudyState
from tumorboard.partners.models import Partner
from tumorboard.patients.models import Patient
from tumorboard.protocol.models import (
    DeviationCause,
    FollowUpStatus,
    ProtocolVersion,
    Recommendation,
    RecommendationFollowUp,
)

DISCIPLINES = ("Radiologie", "Pathologie", "Strahlentherapie", "Onkologie", "Chirurgie")


@dataclass
class Activity:
    sessions: list[ConferenceSession] = field(default_factory=list)
    cancelled: int = 0
    cases: int = 0
    #: Patients (id, KIS number) of the discussed cases, for a primary-case list built by the test.
    patients: list[tuple[int, str]] = field(default_factory=list)


def build_activity(
    session: Session,
    boards: list[Board],
    *,
    first: dt.date,
    last: dt.date,
    clerk: User,
    at: dt.datetime,
    seed: int = 11,
    max_cases: int = 8,
) -> Activity:
    rnd = random.Random(seed)
    conf.generate_sessions(session, start=first, end=last + dt.timedelta(days=1), at=at, actor=CLI, boards=boards)
    start, end = conf.day_range(first, last + dt.timedelta(days=1))
    rows = list(
        session.scalars(
            select(ConferenceSession)
            .where(ConferenceSession.starts_at >= start, ConferenceSession.starts_at < end)
            .where(ConferenceSession.board_id.in_([b.id for b in boards]))
            .order_by(ConferenceSession.starts_at, ConferenceSession.board_id)
        )
    )
    out = Activity(sessions=rows)
    attendance: list[dict[str, object]] = []
    cases: list[dict[str, object]] = []
    versions: list[dict[str, object]] = []
    patient_seq = session.scalar(select(Patient.id).order_by(Patient.id.desc()).limit(1)) or 0
    patients: list[dict[str, object]] = []
    partner_ids = _partners(session, at)
    held: list[ConferenceSession] = []
    for cs in rows:
        if cs.status is not SessionStatus.PLANNED or cs.ends_at > at:
            continue
        roll = rnd.random()
        if roll < 0.06:
            session.execute(
                update(ConferenceSession)
                .where(ConferenceSession.id == cs.id)
                .values(status=SessionStatus.CANCELLED, cancel_reason="Kongress")
            )
            out.cancelled += 1
            continue
        if roll < 0.10:
            continue  # nicht dokumentiert
        held.append(cs)
        for n, discipline in enumerate(rnd.sample(DISCIPLINES, rnd.randint(2, len(DISCIPLINES)))):
            stands_in = n == 0 and rnd.random() < 0.2
            attendance.append(
                {
                    "session_id": cs.id,
                    "name": f"Teilnehmer {cs.id}-{n}",
                    "institution": "",
                    "discipline": "Innere Medizin" if stands_in else discipline,
                    "mode": rnd.choice(list(AttendanceMode)),
                    "arrived_at": cs.starts_at,
                    "left_at": cs.starts_at + dt.timedelta(minutes=30) if rnd.random() < 0.1 else None,
                    "stands_in_for_name": "Vertretene Person" if stands_in else None,
                    "stands_in_for_discipline": discipline if stands_in else None,
                    "recorded_by_id": clerk.id,
                    "created_at": cs.starts_at,
                }
            )
        for position in range(rnd.randint(0, max_cases)):
            patient_seq += 1
            patients.append(
                {
                    "id": patient_seq,
                    "patient_number": f"QM{seed}-{patient_seq}",
                    "family_name": "Muster",
                    "given_name": "Test",
                    "name_key": "muster test",
                    "birth_date": dt.date(1950, 1, 1),
                    "sex": "W",
                    "created_at": at,
                }
            )
            withdrawn = rnd.random() < 0.05
            cases.append(
                {
                    "patient_id": patient_seq,
                    "board_id": cs.board_id,
                    "session_id": cs.id,
                    "position": position,
                    "icd10_code": "C18.0",
                    "icd10_text": "Kolon",
                    "conference_type": rnd.choice(list(ConferenceType)),
                    "question": "Therapie?",
                    "registered_by_id": clerk.id,
                    "status": CaseStatus.WITHDRAWN if withdrawn else CaseStatus.DISCUSSED,
                    "withdraw_reason": "doppelt" if withdrawn else None,
                    "is_late": rnd.random() < 0.1,
                    "presenter_id": clerk.id if rnd.random() < 0.5 else None,
                    "referring_partner_id": rnd.choice(partner_ids) if rnd.random() < 0.3 else None,
                    "imaging_expected": rnd.random() < 0.2,
                    "registered_at": cs.starts_at - dt.timedelta(days=3),
                    "updated_at": cs.starts_at,
                }
            )
        if rnd.random() < 0.85:
            versions.append(
                {
                    "session_id": cs.id,
                    "version": 1,
                    "signed_at": cs.ends_at + dt.timedelta(days=rnd.randint(0, 12), hours=1),
                    "signed_by_id": clerk.id,
                    "signed_by_name": "Moderator",
                    "text": "Protokoll",
                    "pdf": b"%PDF-1.7",
                    "sha256": hashlib.sha256(b"%PDF-1.7").hexdigest(),
                }
            )
    if attendance:
        session.execute(insert(Attendance), attendance)
    if patients:
        session.execute(insert(Patient), patients)
    if cases:
        session.execute(insert(Case), cases)
    for first in list(versions):
        if rnd.random() < 0.05:  # an amendment after signing: version 2 with its reason (T6)
            versions.append(
                {**first, "version": 2, "signed_at": first["signed_at"] + dt.timedelta(days=3),  # type: ignore[operator]
                 "text": "Protokoll\nNachtrag: Empfehlung ergänzt", "reason": "Befund nachgereicht"}
            )  # fmt: skip
    for row in versions:
        row.setdefault("reason", None)
    if versions:
        session.execute(insert(ProtocolVersion), versions)
    case_rows = session.execute(
        select(Case.id, Case.session_id, Case.status, Case.imaging_expected, Case.patient_id)
        .where(Case.session_id.in_([cs.id for cs in rows]))
        .order_by(Case.id)
    ).all()
    by_id = {cs.id: cs for cs in rows}
    # A signed protocol locks the recommendations it contains (as protocol.services._new_version does).
    signed_at: dict[int, object] = {}
    for v in versions:  # version 1 first: the recommendations lock when the protocol is first signed
        signed_at.setdefault(v["session_id"], v["signed_at"])  # type: ignore[arg-type]
    studies = []
    for case_id, session_id, _status, expected, _patient in case_rows:
        if expected and rnd.random() < 0.6:  # the rest: imaging expected, none by the session (T6)
            starts = by_id[session_id].starts_at
            received = starts - dt.timedelta(days=1) if rnd.random() < 0.8 else starts + dt.timedelta(hours=2)
            studies.append(
                {"study_uid": f"1.2.826.0.1.3680043.10.{seed}.{case_id}", "partner_id": partner_ids[0],
                 "accession_number": "", "state": StudyState.COMPLETE, "instance_count": 1,
                 "first_received_at": received, "last_received_at": received, "completed_at": received,
                 "case_id": case_id, "match_method": MatchMethod.ACCESSION, "suggestions": []}
            )  # fmt: skip
    if studies:
        session.execute(insert(ImagingStudy), studies)
    recommendations, follow_ups = [], []
    deviated: list[tuple[int, int]] = []  # (patient, session) of cases whose recommendation was not followed
    for case_id, session_id, status, _expected, patient_id in case_rows:
        if status is not CaseStatus.DISCUSSED:
            continue
        cs = by_id[session_id]
        met = rnd.random() < 0.9
        recommendations.append(
            {
                "case_id": case_id, "session_id": session_id, "revision": 1, "therapy_types": ["OP"],
                "text": "Operation", "quorum_met": met, "quorum_reason": None if met else "Pathologie fehlt",
                "recorded_at": cs.starts_at, "recorded_by_id": clerk.id, "updated_at": cs.starts_at,
                "locked_at": signed_at.get(session_id),
            }
        )  # fmt: skip
        if rnd.random() < 0.08:  # an amendment: revision 2 with the other quorum value counts, not revision 1
            recommendations.append(
                {**recommendations[-1], "revision": 2, "quorum_met": True, "quorum_reason": None,
                 "amendment_reason": "Nachtrag"}
            )  # fmt: skip
        follow = rnd.random()
        if follow < 0.7:
            follow_ups.append(
                {"case_id": case_id, "status": FollowUpStatus.IMPLEMENTED, "cause": None, "recorded_at": at,
                 "recorded_by_id": clerk.id, "note": ""}
            )  # fmt: skip
        elif follow < 0.85:
            follow_ups.append(
                {"case_id": case_id, "status": FollowUpStatus.DEVIATED, "cause": rnd.choice(list(DeviationCause)),
                 "recorded_at": at, "recorded_by_id": clerk.id, "note": ""}
            )  # fmt: skip
            deviated.append((patient_id, session_id))
    if recommendations:
        # Rows of one executemany must share their keys: give every row the optional one.
        for row in recommendations:
            row.setdefault("amendment_reason", None)
        session.execute(insert(Recommendation), recommendations)
    if follow_ups:
        session.execute(insert(RecommendationFollowUp), follow_ups)
    # Re-presentation after a deviation (T5): half of those patients come again to a later held session.
    order = {cs.id: n for n, cs in enumerate(held)}
    again = []
    for patient_id, session_id in deviated:
        later = [cs for cs in held[order[session_id] + 1 :] if cs.board_id == by_id[session_id].board_id]
        if later and rnd.random() < 0.5:
            target = rnd.choice(later[:8])
            again.append(
                {"patient_id": patient_id, "board_id": target.board_id, "session_id": target.id, "position": 99,
                 "icd10_code": "C18.0", "icd10_text": "Kolon", "conference_type": ConferenceType.PRAETH,
                 "question": "Wiedervorstellung", "registered_by_id": clerk.id, "status": CaseStatus.DISCUSSED,
                 "withdraw_reason": None, "is_late": False, "presenter_id": None, "referring_partner_id": None,
                 "imaging_expected": False, "registered_at": target.starts_at - dt.timedelta(days=3),
                 "updated_at": target.starts_at}
            )  # fmt: skip
    if again:
        session.execute(insert(Case), again)
    out.cases = len(case_rows) + len(again)
    out.patients = [
        (patient_id, f"QM{seed}-{patient_id}")
        for _case, _session, status, _expected, patient_id in case_rows
        if status is CaseStatus.DISCUSSED
    ]
    session.flush()
    session.expire_all()
    return out


def _partners(session: Session, at: dt.datetime) -> list[int]:
    """Three referring partners (created if the database has none): cases come from them (T7), studies too."""
    found = list(session.scalars(select(Partner.id).order_by(Partner.id).limit(3)))
    if found:
        return found
    session.execute(
        insert(Partner), [{"name": f"QM-Partner {n}", "contact": "", "created_at": at} for n in range(1, 4)]
    )
    return list(session.scalars(select(Partner.id).order_by(Partner.id).limit(3)))
