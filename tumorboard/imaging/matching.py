"""Matching received studies to registered cases: deterministic rules, name parsing, ranked suggestions, and the
triage inbox where a coordinator assigns what no rule could.

Services flush and audit; their callers (listener, jobs, views) commit.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event, require_reason
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.conferences.models import ConferenceSession
from tumorboard.errors import Conflict
from tumorboard.i18n import N_
from tumorboard.imaging.models import ImagingStudy, MatchMethod, StudyState
from tumorboard.patients.models import DICOM_SEX, Patient
from tumorboard.patients.names import fold

#: Cases that can still receive imaging.
OPEN_STATUSES = (CaseStatus.REGISTERED, CaseStatus.COMPLETE)
#: Name prefixes/suffixes that say nothing about identity.
TITLES = frozenset({"dr", "med", "prof", "dipl", "ing", "phil", "rer", "nat", "univ", "priv", "doz", "pd", "mult"})
SUGGESTION_LIMIT = 5
SUGGESTION_MIN_SCORE = 0.55


def _open_cases(session: Session, *conditions: Any) -> Sequence[Case]:
    return session.scalars(
        select(Case)
        .join(Patient, Case.patient_id == Patient.id)
        .join(ConferenceSession, Case.session_id == ConferenceSession.id)
        .where(Case.status.in_(OPEN_STATUSES), *conditions)
        .order_by(ConferenceSession.starts_at, Case.id)
    ).all()


def deterministic_candidates(session: Session, study: ImagingStudy) -> tuple[MatchMethod, Sequence[Case]] | None:
    """The first rule that finds open cases: partner + partner patient ID; accession number (of that partner's
    cases); our patient number + birth date. Names are never used here."""
    if study.patient_id:
        cases = _open_cases(
            session, Patient.partner_id == study.partner_id, Patient.partner_patient_id == study.patient_id
        )
        if cases:
            return MatchMethod.PARTNER_PATIENT_ID, cases
    if study.accession_number:
        cases = _open_cases(
            session, Case.accession_number == study.accession_number, Case.referring_partner_id == study.partner_id
        )
        if cases:
            return MatchMethod.ACCESSION, cases
    if study.patient_id and study.birth_date is not None:
        cases = _open_cases(session, Patient.patient_number == study.patient_id, Patient.birth_date == study.birth_date)
        if cases:
            return MatchMethod.PATIENT_NUMBER, cases
    return None


def match_study(session: Session, study: ImagingStudy, *, at: dt.datetime, actor: Actor) -> Case | None:
    """Assign ``study`` automatically when a deterministic rule names exactly one case whose patient is the
    same for all hits; otherwise store ranked suggestions for the triage inbox. A study under a server-generated
    key (its sender's Study Instance UID was missing or unusable) always goes to the inbox: its instances were
    grouped by us, not by the sender, so a coordinator looks before it joins a case. A rejected study (more of its
    instances may still arrive) is matched to nothing."""
    if study.rejected_at is not None:
        return None
    found = deterministic_candidates(session, study) if study.received_study_uid is None else None
    if found is not None:
        method, cases = found
        # Several open cases of the one patient: the earliest session's case that expects imaging, else the
        # earliest session's case. Cases of different patients: ambiguous, a coordinator decides.
        if len({c.patient_id for c in cases}) == 1:
            expecting = [c for c in cases if c.imaging_expected]
            case = (expecting or list(cases))[0]
            assign_study(session, study, case, method=method, at=at, actor=actor)
            return case
    study.suggestions = suggest_cases(session, study)
    session.flush()
    return None


def name_variants(pn: str) -> list[tuple[str, str]]:
    """(family, given) readings of a DICOM PN: as received, UTF-8-read-as-Latin-1 repaired, swapped; titles
    dropped. Only the alphabetic representation (before "=") is used."""
    raw = pn.split("=")[0]
    readings = [raw]
    try:
        repaired = raw.encode("latin-1").decode("utf-8")
        if repaired != raw:
            readings.append(repaired)
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    out: list[tuple[str, str]] = []
    for reading in readings:
        if "^" in reading:
            parts = reading.split("^")
            family, given = parts[0], parts[1] if len(parts) > 1 else ""
        elif "," in reading:
            family, _, given = reading.partition(",")
        else:
            words = reading.split()
            family, given = (words[-1], " ".join(words[:-1])) if len(words) > 1 else (reading, "")
        family, given = _strip_titles(family), _strip_titles(given)
        out += [(family, given), (given, family)]
    return out


def _strip_titles(text: str) -> str:
    return " ".join(w for w in fold(text).split() if w not in TITLES)


def _similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b).ratio()


def suggest_cases(session: Session, study: ImagingStudy) -> list[dict[str, Any]]:
    """Ranked candidate cases for a study no deterministic rule could assign (never auto-assigned)."""
    variants = name_variants(study.patient_name)
    scored: list[dict[str, Any]] = []
    for case in _open_cases(session):
        patient = case.patient
        family, given = fold(patient.family_name), fold(patient.given_name)
        name_score = 0.0
        for v_family, v_given in variants:
            score = 0.7 * _similarity(v_family, family) + 0.3 * _similarity(v_given, given)
            name_score = max(name_score, score)
        reasons = []
        score = name_score * 0.7
        if name_score >= 0.85:
            reasons.append("name")
        if study.birth_date is not None and study.birth_date == patient.birth_date:
            score += 0.2
            reasons.append("birth_date")
        if case.referring_partner_id == study.partner_id or patient.partner_id == study.partner_id:
            score += 0.05
            reasons.append("partner")
        if case.imaging_expected:
            score += 0.05
            reasons.append("imaging_expected")
        if score >= SUGGESTION_MIN_SCORE:
            scored.append({"case_id": case.id, "score": round(score, 3), "reasons": reasons})
    scored.sort(key=lambda s: (-s["score"], s["case_id"]))
    return scored[:SUGGESTION_LIMIT]


#: A study rejected in the triage stays out of every case (its images are purged after the retention period).
REJECTED = N_("Diese Studie wurde im Bildeingang abgelehnt; sie wird keinem Fall mehr zugeordnet.")


def assign_study(
    session: Session,
    study: ImagingStudy,
    case: Case,
    *,
    at: dt.datetime,
    actor: Actor,
    method: MatchMethod = MatchMethod.MANUAL,
) -> ImagingStudy:
    """Assign (or re-assign) a study to a case. The received values stay as they were; audited."""
    if study.state is StudyState.PURGED:
        raise Conflict(N_("Die Bilder dieser Studie wurden bereits gelöscht."))
    if study.rejected_at is not None:  # a stale triage page, or a rule, must not bring it back (issue 13)
        raise Conflict(REJECTED)
    if case.status not in OPEN_STATUSES and method is not MatchMethod.MANUAL:
        raise Conflict(N_("Dieser Fall nimmt keine Bilder mehr an."))
    before = {"case_id": study.case_id, "method": study.match_method.value if study.match_method else None}
    study.case_id = case.id
    study.case = case
    study.match_method = method
    study.suggestions = []
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.IMAGING_STUDY_ASSIGN,
        subject_type=SubjectType.IMAGING_STUDY,
        subject_id=study.id,
        at=at,
        before=before,
        after={"case_id": case.id, "method": method.value},
    )
    return study


#: DICOM Patient's Sex → the registration form's choices.
_SEX = {code: sex.value for sex, code in DICOM_SEX.items()}


def registration_prefill(study: ImagingStudy) -> dict[str, Any]:
    """What a registration form can take over from a received study: the values as received (decoded per the
    Specific Character Set), for the coordinator to check. Diagnosis, question and board cannot come from
    images; our patient number neither."""
    alphabetic = study.patient_name.split("=", 1)[0]
    parts = [p.strip() for p in alphabetic.split("^")] + ["", ""]
    return {
        "family_name": parts[0],
        "given_name": " ".join(p for p in parts[1:3] if p),
        "birth_date": study.birth_date,
        "sex": _SEX.get(study.sex.strip().upper(), "U"),
        "referring_partner": study.partner_id if study.partner.active else 0,
        "partner_patient_id": study.patient_id,
        "accession_number": study.accession_number,
        "imaging_expected": True,
    }


def unassign_study(session: Session, study: ImagingStudy, *, at: dt.datetime, actor: Actor) -> ImagingStudy:
    before = {"case_id": study.case_id, "method": study.match_method.value if study.match_method else None}
    study.case_id = None
    study.case = None
    study.match_method = None
    study.suggestions = suggest_cases(session, study)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.IMAGING_STUDY_UNASSIGN,
        subject_type=SubjectType.IMAGING_STUDY,
        subject_id=study.id,
        at=at,
        before=before,
    )
    return study


# --- triage inbox ----------------------------------------------------------------------------------------------
def triage_inbox(session: Session) -> Sequence[ImagingStudy]:
    """Studies no rule assigned, oldest first; rejected ones are out of it (issue 13)."""
    return session.scalars(
        select(ImagingStudy)
        .where(
            ImagingStudy.case_id.is_(None),
            ImagingStudy.state != StudyState.PURGED,
            ImagingStudy.rejected_at.is_(None),
        )
        .order_by(ImagingStudy.first_received_at)
    ).all()


def cases_by_id(session: Session, ids: Iterable[int]) -> dict[int, Case]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(wanted))).all()}


def reject_study(session: Session, study: ImagingStudy, *, reason: str | None, at: dt.datetime, actor: Actor) -> None:
    """A study sent by mistake (wrong patient, wrong hospital): out of the inbox, kept until the retention rule
    purges it ``retention_days`` after the rejection; audited with the reason (issue 13)."""
    text = require_reason(reason, N_("Bitte einen Grund angeben, warum die Studie abgelehnt wird."))
    if study.case_id is not None:
        raise Conflict(N_("Die Studie ist einem Fall zugeordnet; bitte zuerst die Zuordnung aufheben."))
    if study.rejected_at is not None or study.state is StudyState.PURGED:
        raise Conflict(N_("Diese Studie ist schon abgelehnt oder gelöscht."))
    study.rejected_at, study.reject_reason = at, text
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.IMAGING_STUDY_REJECT,
        subject_type=SubjectType.IMAGING_STUDY,
        subject_id=study.id,
        at=at,
        after={"rejected_at": at},
        reason=text,
    )
