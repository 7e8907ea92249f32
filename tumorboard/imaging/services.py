"""The study index: ingest of received instances, completeness, matching to cases, triage, retention.

Services flush and audit; their callers (listener, jobs, views, CLI) commit.
"""

from __future__ import annotations

import base64
import datetime as dt
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, bindparam, func, select, text
from sqlalchemy.orm import Session, selectinload

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.conferences.models import ConferenceSession
from tumorboard.db import UTCDateTime
from tumorboard.errors import Conflict, NotFound
from tumorboard.i18n import N_
from tumorboard.imaging.dicom.dataset import Header
from tumorboard.imaging.models import ImagingInstance, ImagingSeries, ImagingStudy, MatchMethod, StudyState
from tumorboard.partners.models import Partner
from tumorboard.patients.models import DICOM_SEX, Patient
from tumorboard.patients.names import fold

#: Cases that can still receive imaging.
OPEN_STATUSES = (CaseStatus.REGISTERED, CaseStatus.COMPLETE)
#: Name prefixes/suffixes that say nothing about identity.
TITLES = frozenset({"dr", "med", "prof", "dipl", "ing", "phil", "rer", "nat", "univ", "priv", "doz", "pd", "mult"})
SUGGESTION_LIMIT = 5
SUGGESTION_MIN_SCORE = 0.55


@dataclass(frozen=True)
class IngestResult:
    instance_id: int
    study_id: int
    #: False when the same SOP Instance UID with the same bytes was already indexed (nothing changed).
    created: bool
    #: True when another copy with the same SOP Instance UID but different bytes exists (both kept).
    conflicting: bool


def ingest_instance(
    session: Session,
    header: Header,
    *,
    sha256: str,
    size: int,
    partner_id: int,
    calling_ae_title: str,
    peer_address: str,
    at: dt.datetime,
    actor: Actor,
) -> IngestResult:
    """Index one stored object: study and series are created on first sight, counts and times updated, a
    complete study reopened. Idempotent on (SOP Instance UID, SHA-256).

    This runs once per received instance while the sender waits, so the common path (known study and series)
    uses a handful of Core statements instead of loading ORM objects."""
    conn = session.connection()  # Core execution: the ORM's per-statement overhead is not needed here
    copies = conn.execute(_COPIES, {"sop": header.sop_instance_uid}).all()
    for copy in copies:
        if copy.sha256 == sha256:
            return IngestResult(copy.id, copy.study_id, created=False, conflicting=bool(copy.conflicting))
    # A known series brings its study (one query on the common path). A series UID reused under another study
    # means a broken sender: the instance is indexed under the series' own study.
    series = conn.execute(_SERIES, {"uid": header.series_uid}).first()
    if series is not None:
        series_id, study_id, state = series.id, series.study_id, StudyState(series.state)
    else:
        found = conn.execute(_STUDY, {"uid": header.study_uid}).first()
        if found is None:
            partner = session.get(Partner, partner_id)
            assert partner is not None
            study_id = _new_study(session, header, partner=partner, at=at, actor=actor).id
            state = StudyState.RECEIVING
        else:
            study_id, state = found.id, StudyState(found.state)
        new_series = ImagingSeries(
            study_id=study_id,
            series_uid=header.series_uid,
            modality=header.modality,
            series_number=header.series_number,
            series_description=header.series_description,
            body_part=header.body_part,
            instance_count=0,
            preview_instance_count=0,
        )
        session.add(new_series)
        session.flush()
        series_id = new_series.id
    conflicting = bool(copies)
    instance_id = conn.execute(
        _INSERT,
        instance_row(
            header,
            series_id=series_id,
            sha256=sha256,
            size=size,
            at=at,
            conflicting=conflicting,
            calling_ae_title=calling_ae_title,
            peer_address=peer_address,
        ),
    ).scalar_one()
    if conflicting:
        conn.execute(_FLAG_CONFLICT, {"sop": header.sop_instance_uid})
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_INSTANCE_CONFLICT,
            subject_type=SubjectType.IMAGING_STUDY,
            subject_id=study_id,
            at=at,
            after={"copies": len(copies) + 1, "partner_id": partner_id},
        )
    else:
        conn.execute(_BUMP_SERIES, {"id": series_id})
    conn.execute(_BUMP_STUDY, {"id": study_id, "n": 0 if conflicting else 1, "at": at})
    if state is StudyState.COMPLETE:
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_STUDY_REOPEN,
            subject_type=SubjectType.IMAGING_STUDY,
            subject_id=study_id,
            at=at,
        )
    session.flush()
    return IngestResult(instance_id, study_id, created=True, conflicting=conflicting)


def instance_row(
    header: Header,
    *,
    series_id: int,
    sha256: str,
    size: int,
    at: Any,
    conflicting: bool,
    calling_ae_title: str,
    peer_address: str,
) -> dict[str, Any]:
    """The values of a new ``imaging_instance`` row (here and in the listener's fast path), as received."""
    return {
        "series_id": series_id,
        "sop": header.sop_instance_uid,
        "sop_class": header.sop_class_uid,
        "ts": header.transfer_syntax_uid,
        "number": header.instance_number,
        "sha": sha256,
        "size": size,
        "at": at,
        "conflicting": conflicting,
        "aet": calling_ae_title[:16],
        "address": peer_address[:64],
    }


# The per-instance statements, built once: constructing SQLAlchemy statements costs more CPU than running them
# (measured in benchmarks/imaging.py), and the sender waits for every instance.
_COPIES = text(
    "SELECT i.id, i.sha256, i.conflicting, s.study_id FROM imaging_instance i "
    "JOIN imaging_series s ON s.id = i.series_id WHERE i.sop_instance_uid = :sop"
)
_STUDY = text("SELECT id, state FROM imaging_study WHERE study_uid = :uid")
_SERIES = text(
    "SELECT s.id, s.study_id, st.state FROM imaging_series s JOIN imaging_study st ON st.id = s.study_id "
    "WHERE s.series_uid = :uid"
)
_INSERT = text(
    "INSERT INTO imaging_instance (series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, instance_number, "
    "sha256, size_bytes, received_at, conflicting, calling_ae_title, peer_address) VALUES (:series_id, :sop, "
    ":sop_class, :ts, :number, :sha, :size, :at, :conflicting, :aet, :address) RETURNING id"
).bindparams(bindparam("at", type_=UTCDateTime()), bindparam("conflicting", type_=Boolean()))
_FLAG_CONFLICT = text("UPDATE imaging_instance SET conflicting = true WHERE sop_instance_uid = :sop")
_BUMP_SERIES = text("UPDATE imaging_series SET instance_count = instance_count + 1 WHERE id = :id")
#: A new instance reopens a complete study (late instance) and un-purges a purged one (a resend after retention).
_BUMP_STUDY = text(
    "UPDATE imaging_study SET instance_count = instance_count + :n, last_received_at = :at, state = 'receiving', "
    "completed_at = NULL, purged_at = NULL WHERE id = :id"
).bindparams(bindparam("at", type_=UTCDateTime()))


def _new_study(session: Session, header: Header, *, partner: Partner, at: dt.datetime, actor: Actor) -> ImagingStudy:
    study = ImagingStudy(
        study_uid=header.study_uid,
        partner_id=partner.id,
        patient_name=header.patient_name,
        patient_id=header.patient_id,
        issuer_of_patient_id=header.issuer_of_patient_id,
        birth_date=header.birth_date,
        sex=header.sex,
        accession_number=header.accession_number,
        study_date=header.study_date,
        study_description=header.study_description,
        character_set=header.character_set,
        state=StudyState.RECEIVING,
        instance_count=0,
        first_received_at=at,
        last_received_at=at,
        suggestions=[],
    )
    study.partner = partner
    session.add(study)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.IMAGING_STUDY_RECEIVE,
        subject_type=SubjectType.IMAGING_STUDY,
        subject_id=study.id,
        at=at,
        after={"partner_id": partner.id},
    )
    match_study(session, study, at=at, actor=actor)
    return study


# --- completeness ---------------------------------------------------------------------------------------------
def complete_quiet_studies(session: Session, *, at: dt.datetime, actor: Actor) -> list[ImagingStudy]:
    """Mark studies "vollständig (vorläufig)" whose partner's quiet period passed without a new instance.
    Unassigned ones get another deterministic matching attempt (the case may have been registered meanwhile)."""
    receiving = session.scalars(select(ImagingStudy).where(ImagingStudy.state == StudyState.RECEIVING)).all()
    done = []
    for study in receiving:
        if study.last_received_at + dt.timedelta(seconds=study.partner.quiet_period_seconds) > at:
            continue
        study.state = StudyState.COMPLETE
        study.completed_at = at
        record_event(
            session,
            actor=actor,
            tag=Tag.IMAGING_STUDY_COMPLETE,
            subject_type=SubjectType.IMAGING_STUDY,
            subject_id=study.id,
            at=at,
            after={"instance_count": study.instance_count},
        )
        if study.case_id is None:
            match_study(session, study, at=at, actor=actor)
        done.append(study)
    session.flush()
    return done


# --- matching -------------------------------------------------------------------------------------------------
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
    same for all hits; otherwise store ranked suggestions for the triage inbox."""
    found = deterministic_candidates(session, study)
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


# --- reading --------------------------------------------------------------------------------------------------
def get_study(session: Session, study_id: int) -> ImagingStudy:
    study = session.get(ImagingStudy, study_id)
    if study is None:
        raise NotFound(N_("Diese Studie gibt es nicht."))
    return study


def get_series(session: Session, series_id: int) -> ImagingSeries:
    series = session.get(ImagingSeries, series_id)
    if series is None:
        raise NotFound(N_("Diese Serie gibt es nicht."))
    return series


def list_studies(session: Session) -> Sequence[ImagingStudy]:
    return session.scalars(select(ImagingStudy).order_by(ImagingStudy.first_received_at.desc())).all()


def triage_inbox(session: Session) -> Sequence[ImagingStudy]:
    """Studies no rule assigned, oldest first."""
    return session.scalars(
        select(ImagingStudy)
        .where(ImagingStudy.case_id.is_(None), ImagingStudy.state != StudyState.PURGED)
        .order_by(ImagingStudy.first_received_at)
    ).all()


def cases_by_id(session: Session, ids: Iterable[int]) -> dict[int, Case]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(wanted))).all()}


def study_json(study: ImagingStudy) -> dict[str, Any]:
    """One study for ``tumorboard imaging studies --json`` (admins only: it carries patient data)."""
    return {
        "id": study.id,
        "study_uid": study.study_uid,
        "series": [
            {
                "series_uid": s.series_uid,
                "modality": s.modality,
                "description": s.series_description,
                "body_part": s.body_part,
                "instance_count": s.instance_count,
            }
            for s in study.series
        ],
        "patient_name": study.patient_name,
        "patient_id": study.patient_id,
        "issuer_of_patient_id": study.issuer_of_patient_id,
        "birth_date": study.birth_date.isoformat() if study.birth_date else None,
        "sex": study.sex,
        "accession_number": study.accession_number,
        "study_date": study.study_date.isoformat() if study.study_date else None,
        "study_description": study.study_description,
        "modalities": sorted({s.modality for s in study.series if s.modality}),
        "instance_count": study.instance_count,
        "state": study.state.value,
        "partner": study.partner.name,
        "case_id": study.case_id,
        "match_method": study.match_method.value if study.match_method else None,
        "first_received_at": study.first_received_at.isoformat(),
        "last_received_at": study.last_received_at.isoformat(),
    }


# --- case list and agenda -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesPreview:
    series_id: int
    label: str
    instance_count: int
    #: File name of the rendered PNG in the preview folder, or None.
    preview_name: str | None
    #: Why there is no preview ("keine Vorschau: …"), or None (rendered, or still pending).
    preview_error: str | None


@dataclass(frozen=True)
class ImagingSummary:
    """What the case list and the agenda show per case."""

    case_id: int
    imaging_expected: bool
    #: "none" (nothing expected or received), "expected", "receiving", "complete" or "purged".
    state: str
    instance_count: int = 0
    partner: str | None = None
    study_date: dt.date | None = None
    study_description: str = ""
    modalities: tuple[str, ...] = ()
    previews: tuple[SeriesPreview, ...] = field(default=())


_STATE_ORDER = {StudyState.RECEIVING: 0, StudyState.COMPLETE: 1, StudyState.PURGED: 2}


def imaging_summaries(session: Session, case_ids: Iterable[int]) -> dict[int, ImagingSummary]:
    """Per case: expected / receiving (n images) / complete, with partner, study and previews. A fixed number of
    queries however many cases (two: cases + studies with series)."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}
    expected = dict(session.execute(select(Case.id, Case.imaging_expected).where(Case.id.in_(ids))).all())
    studies = session.scalars(
        select(ImagingStudy)
        .where(ImagingStudy.case_id.in_(ids))
        .options(selectinload(ImagingStudy.series))
        .order_by(ImagingStudy.first_received_at)
        .execution_options(populate_existing=True)  # counts and previews change in other processes
    ).all()
    by_case: dict[int, list[ImagingStudy]] = {}
    for study in studies:
        assert study.case_id is not None
        by_case.setdefault(study.case_id, []).append(study)
    out: dict[int, ImagingSummary] = {}
    for case_id in ids:
        if case_id not in expected:
            continue
        rows = by_case.get(case_id, [])
        if not rows:
            out[case_id] = ImagingSummary(case_id, expected[case_id], "expected" if expected[case_id] else "none", 0)
            continue
        state = min((s.state for s in rows), key=lambda s: _STATE_ORDER[s])
        latest = rows[-1]
        out[case_id] = ImagingSummary(
            case_id=case_id,
            imaging_expected=expected[case_id],
            state=state.value,
            instance_count=sum(s.instance_count for s in rows),
            partner=latest.partner.name,
            study_date=latest.study_date,
            study_description=latest.study_description,
            modalities=tuple(sorted({se.modality for s in rows for se in s.series if se.modality})),
            previews=tuple(
                SeriesPreview(
                    series_id=se.id,
                    label=" ".join(x for x in (se.modality, se.series_description) if x) or f"#{se.id}",
                    instance_count=se.instance_count,
                    preview_name=se.preview_name if s.state is not StudyState.PURGED else None,
                    preview_error=se.preview_error,
                )
                for s in rows
                for se in s.series
            ),
        )
    return out


def is_indexed(session: Session, sha256: str) -> bool:
    """Whether an instance with these bytes is in the index (the listener's recovery after a crash)."""
    return session.scalar(select(ImagingInstance.id).where(ImagingInstance.sha256 == sha256).limit(1)) is not None


def count_instances(session: Session) -> int:
    return session.scalar(select(func.count(ImagingInstance.id))) or 0


_SAFE_NAME_RE = re.compile(r"^[0-9]+\.png$")


def preview_file_name(series: ImagingSeries) -> str | None:
    """The preview's file name, only if it has the shape we write (defence in depth)."""
    name = series.preview_name
    return name if name and _SAFE_NAME_RE.match(name) else None


def preview_data_uri(storage_path: Path, preview: SeriesPreview, *, max_px: int | None = None) -> str | None:
    """The preview as a ``data:`` URI, for renderers that fetch nothing else (the agenda PDF):
    ``case_imaging(summary, preview_url=lambda sid: uris[sid])``. ``max_px`` scales it down first: a print
    thumbnail needs far fewer pixels than the stored preview, and every pixel costs PDF rendering time."""
    if not preview.preview_name or not _SAFE_NAME_RE.match(preview.preview_name):
        return None
    path = storage_path / "previews" / preview.preview_name
    try:
        data = path.read_bytes()
        if max_px is not None:
            data = _scaled_png(data, max_px)
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _scaled_png(data: bytes, max_px: int) -> bytes:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if max(image.size) <= max_px:
                return data
            image.thumbnail((max_px, max_px))
            out = io.BytesIO()
            image.save(out, format="PNG")
    except (UnidentifiedImageError, ValueError) as err:
        raise OSError(f"preview is not a readable PNG: {err}") from err
    return out.getvalue()
