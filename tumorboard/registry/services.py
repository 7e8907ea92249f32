"""The oBDS export (issue 15): one Tumorkonferenz Meldung per signed recommendation (its latest signed revision)
of the conferences in a period, validated before anything is written, with an export log.

What is not exported is listed with the case and the reason — nothing is dropped silently: a conference after the
patient's recorded death is left out (no report after death); a case without diagnosis date, insurance data or a
tumour ICD code is not exportable; a recommendation not signed yet waits for its signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.auth.models import User
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.errors import ConfigurationError, InvalidInput, NotFound
from tumorboard.i18n import N_
from tumorboard.patients.models import Patient
from tumorboard.protocol.models import DeviationCause, FollowUpStatus, Recommendation, RecommendationFollowUp
from tumorboard.registry import obds
from tumorboard.registry.config import RegistrySettings
from tumorboard.registry.models import ObdsExport, ObdsExportItem

#: The longest period one export may cover (the registry wants timely reports, not archives).
MAX_DAYS = 3 * 366


class Reason:
    """Why a case is not in the document (German, shown to QM and printed by the command)."""

    AFTER_DEATH = N_("Konferenz nach dem Sterbedatum – wird nicht gemeldet")
    NOT_SIGNED = N_("Empfehlung noch nicht unterschrieben")
    NO_DIAGNOSIS_DATE = N_("Diagnosedatum fehlt")
    NO_INSURANCE = N_("IKNR der Krankenkasse fehlt")
    NO_INSURANCE_NUMBER = N_("Versichertennummer fehlt (gesetzliche Krankenkasse)")
    NO_TUMOUR_CODE = N_("ICD-10-Kode ist keine meldepflichtige Tumordiagnose")
    INVALID = N_("Angaben entsprechen nicht dem oBDS-Schema")


@dataclass(frozen=True)
class Skipped:
    case_id: int
    session_id: int
    conference_date: dt.date
    reason: str
    #: Schema errors (line, path, kind; no values) for ``Reason.INVALID``.
    details: tuple[str, ...] = ()


@dataclass
class Collected:
    patients: list[obds.PatientData] = field(default_factory=list)
    #: (case, recommendation, is_correction) per Meldung, in document order.
    items: list[tuple[Case, Recommendation, bool]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class ExportResult:
    export: ObdsExport
    body: bytes
    skipped: list[Skipped]


def product_version() -> str:
    try:
        return version("tumorboard")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "unbekannt"


def meldung_id(settings: RegistrySettings, case_id: int) -> str:
    """Stable per case and unique across exports and reporters: the Melder ID and the case's internal id."""
    return f"{settings.melder_id}-TK{case_id}"[:50]


def check_period(first: dt.date, last: dt.date) -> None:
    if last < first:
        raise InvalidInput(N_("Das Ende des Zeitraums liegt vor seinem Anfang."), field="to")
    if (last - first).days > MAX_DAYS:
        raise InvalidInput(N_("Der Zeitraum darf höchstens drei Jahre umfassen."), field="to")


def _patient_wish(follow_up: RecommendationFollowUp | None) -> str:
    """oBDS Abweichung_Patientenwunsch from the latest follow-up: J (deviated at the patient's wish), N
    (implemented, or deviated for another reason), U (not known yet)."""
    if follow_up is None:
        return "U"
    if follow_up.status is FollowUpStatus.IMPLEMENTED:
        return "N"
    if follow_up.cause is DeviationCause.PATIENT_WISH:
        return "J"
    return "U" if follow_up.cause is DeviationCause.UNKNOWN else "N"


def collect(
    session: Session,
    *,
    first: dt.date,
    last: dt.date,
    board: Board | None,
    settings: RegistrySettings,
) -> Collected:
    """Everything the document of ``first``..``last`` (conference dates, Berlin) holds, and what it leaves out."""
    check_period(first, last)
    start, end = conf.day_range(first, last + dt.timedelta(days=1))
    query = (
        select(Case)
        .join(ConferenceSession, ConferenceSession.id == Case.session_id)
        .where(ConferenceSession.starts_at >= start, ConferenceSession.starts_at < end)
        .where(Case.status != CaseStatus.WITHDRAWN)
        .order_by(Case.patient_id, ConferenceSession.starts_at, Case.id)
    )
    if board is not None:
        query = query.where(Case.board_id == board.id)
    cases = list(session.scalars(query).unique())
    ids = [c.id for c in cases]
    recs: dict[int, list[Recommendation]] = {}
    follow_ups: dict[int, RecommendationFollowUp] = {}
    exported: dict[int, int] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for rec in session.scalars(
            select(Recommendation).where(Recommendation.case_id.in_(chunk)).order_by(Recommendation.revision)
        ):
            recs.setdefault(rec.case_id, []).append(rec)
        for fu in session.scalars(
            select(RecommendationFollowUp)
            .where(RecommendationFollowUp.case_id.in_(chunk))
            .order_by(RecommendationFollowUp.id)
        ):
            follow_ups[fu.case_id] = fu  # the latest wins
        for case_id, revision in session.execute(
            select(ObdsExportItem.case_id, func.max(ObdsExportItem.revision))
            .where(ObdsExportItem.case_id.in_(chunk))
            .group_by(ObdsExportItem.case_id)
        ):
            exported[case_id] = revision
    out = Collected()
    by_patient: dict[int, obds.PatientData] = {}
    for case in cases:
        revisions = recs.get(case.id, [])
        if not revisions:
            continue  # nothing recommended: no conference result to report
        day = case.session.starts_at.astimezone(BERLIN).date()

        def skip(reason: str, details: tuple[str, ...] = (), *, _case: Case = case, _day: dt.date = day) -> None:
            out.skipped.append(Skipped(_case.id, _case.session_id, _day, reason, details))

        signed = [r for r in revisions if r.locked_at is not None]
        patient: Patient = case.patient
        if not signed:
            skip(Reason.NOT_SIGNED)
            continue
        rec = signed[-1]
        if patient.date_of_death is not None and day > patient.date_of_death:
            skip(Reason.AFTER_DEATH)
            continue
        icd = obds.split_icd(case.icd10_code)
        if icd is None:
            skip(Reason.NO_TUMOUR_CODE)
            continue
        if case.diagnosis_date is None:
            skip(Reason.NO_DIAGNOSIS_DATE)
            continue
        if not patient.insurer_iknr:
            skip(Reason.NO_INSURANCE)
            continue
        if patient.insurer_iknr.startswith("10") and not patient.insurance_number:
            skip(Reason.NO_INSURANCE_NUMBER)
            continue
        previous = exported.get(case.id)
        correction = previous is not None and previous < rec.revision
        meldung = obds.MeldungData(
            meldung_id=meldung_id(settings, case.id),
            conference_id=f"TK{case.id}",
            conference_date=day,
            conference_type=case.conference_type.value,
            therapy_types=tuple(rec.therapy_types),
            patient_wish=_patient_wish(follow_ups.get(case.id)),
            icd_code=icd[0],
            icd_version=f"10 {case.registered_at.astimezone(BERLIN).year} GM",
            diagnosis_date=case.diagnosis_date,
            side=icd[1],
            note=(
                f"Korrektur: ersetzt die gemeldete Empfehlung (Revision {previous}) durch Revision {rec.revision}"
                if correction
                else None
            ),
        )
        entry = by_patient.get(patient.id)
        candidate = entry or obds.PatientData(
            patient_id=patient.patient_number,
            family_name=patient.family_name,
            given_name=patient.given_name,
            sex=patient.sex.value,
            birth_date=patient.birth_date,
            iknr=patient.insurer_iknr,
            insurance_number=patient.insurance_number,
        )
        # Checked alone first, so one patient's unusual name (outside DIN SPEC 91379) is listed, not fatal.
        trial = obds.PatientData(**{**candidate.__dict__, "meldungen": [meldung]})
        try:
            obds.render([trial], settings=settings, reported_on=day, software_version="check")
        except obds.InvalidDocument as err:
            skip(Reason.INVALID, tuple(err.errors))
            continue
        if entry is None:
            by_patient[patient.id] = candidate
            out.patients.append(candidate)
        candidate.meldungen.append(meldung)
        out.items.append((case, rec, correction))
    return out


def export_obds(
    session: Session,
    *,
    first: dt.date,
    last: dt.date,
    board: Board | None,
    settings: RegistrySettings,
    file_name: str,
    user: User | None,
    at: dt.datetime,
    actor: Actor,
) -> ExportResult:
    """Build, validate and log one export. The caller writes ``body`` and commits; if it cannot write, it rolls
    back and the log keeps no trace of a file that does not exist. Raises InvalidInput (period), ConfigurationError
    (no Melder ID), NotFound (nothing to report: oBDS needs at least one patient) or obds.InvalidDocument."""
    if not settings.configured:
        raise ConfigurationError(
            N_("Der oBDS-Export ist nicht eingerichtet: TUMORBOARD_OBDS_MELDER_ID fehlt (Melder-ID beim Register).")
        )
    data = collect(session, first=first, last=last, board=board, settings=settings)
    if not data.patients:
        raise NotFound(N_("Im Zeitraum gibt es keine meldefähige Empfehlung."))
    body = obds.render(
        data.patients, settings=settings, reported_on=at.astimezone(BERLIN).date(), software_version=product_version()
    )
    digest = hashlib.sha256(body).hexdigest()
    export = ObdsExport(
        first_day=first,
        last_day=last,
        board_id=board.id if board else None,
        sha256=digest,
        size_bytes=len(body),
        file_name=file_name[:255],
        document=body,
        created_at=at,
        created_by_id=user.id if user else None,
        created_by_name=user.display_name if user else actor.label,
    )
    session.add(export)
    session.flush()
    for case, rec, correction in data.items:
        session.add(
            ObdsExportItem(
                export_id=export.id,
                case_id=case.id,
                recommendation_id=rec.id,
                revision=rec.revision,
                meldung_id=meldung_id(settings, case.id),
                is_correction=correction,
            )
        )
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.REGISTRY_OBDS_EXPORT,
        subject_type=SubjectType.OBDS_EXPORT,
        subject_id=export.id,
        at=at,
        after={
            "sha256": digest,
            "period": [first.isoformat(), last.isoformat()],
            "board_id": export.board_id,
            "meldungen": len(data.items),
            "corrections": [case.id for case, _, c in data.items if c],
            "not_exported": [[s.case_id, s.reason] for s in data.skipped],
        },
    )
    return ExportResult(export=export, body=body, skipped=data.skipped)


def list_exports(session: Session, *, limit: int = 50) -> Sequence[ObdsExport]:
    return session.scalars(select(ObdsExport).order_by(ObdsExport.id.desc()).limit(limit)).all()


def get_export(session: Session, export_id: int) -> ObdsExport:
    export = session.get(ObdsExport, export_id)
    if export is None:
        raise NotFound(N_("Diesen oBDS-Export gibt es nicht."))
    return export


def export_document(session: Session, export: ObdsExport, *, at: dt.datetime, actor: Actor) -> bytes:
    """The stored document of an export, its SHA-256 checked; the download is audited (patient data)."""
    body = bytes(export.document)
    if hashlib.sha256(body).hexdigest() != export.sha256:
        raise ConfigurationError(N_("Die gespeicherte oBDS-Datei stimmt nicht mehr mit ihrer Prüfsumme überein."))
    record_event(
        session,
        actor=actor,
        tag=Tag.REGISTRY_OBDS_DOWNLOAD,
        subject_type=SubjectType.OBDS_EXPORT,
        subject_id=export.id,
        at=at,
    )
    return body
