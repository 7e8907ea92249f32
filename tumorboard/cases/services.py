"""Case registration and the case list of each session.

A registration lands on the board's next session whose registration deadline has not passed. A coordinator may put
it on an earlier session anyway; it is then marked late (Nachmeldung) everywhere it shows. Every change writes an
audit event; changes to a session whose agenda is frozen make a new agenda version (cases.agenda).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, lazyload

from tumorboard.audit.services import MAX_REASON_LENGTH, record_event, require_reason
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.auth.models import Role, User
from tumorboard.auth.permissions import can_manage_case_list
from tumorboard.cases.models import ACTIVE_STATUSES, Case, CaseStatus, ConferenceType
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board, ConferenceSession, SessionStatus
from tumorboard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tumorboard.hygiene import check_text
from tumorboard.i18n import N_
from tumorboard.partners.models import Partner
from tumorboard.patients.models import Patient, Sex
from tumorboard.patients.services import create_patient

#: ICD-10-GM: letter, two digits, optional subcode, optional marker (†*!) and side (R/L/B), e.g. "C50.4 L".
ICD10_RE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9]{1,2})?[+*!]?( ?[RLB])?$")
#: ICD-O-3 morphology with behaviour code, e.g. "8140/3".
ICDO_RE = re.compile(r"^[0-9]{4}/[0-9]$")
#: How far ahead a registration looks for a session with an open deadline.
SEARCH_WEEKS = 26


@dataclass
class PatientInput:
    family_name: str
    given_name: str
    birth_date: dt.date
    sex: Sex | str
    patient_number: str
    partner_patient_id: str | None = None


@dataclass
class CaseInput:
    icd10_code: str
    icd10_text: str
    conference_type: ConferenceType | str
    question: str
    icdo_morphology: str | None = None
    diagnosis_date: dt.date | None = None
    tnm: str | None = None
    ecog: int | None = None
    presenter_id: int | None = None
    referring_partner_id: int | None = None
    accession_number: str | None = None
    imaging_expected: bool = False


def normalize_icd10(code: str) -> str:
    return " ".join(code.strip().upper().split())


def _validate(session: Session, data: CaseInput) -> tuple[ConferenceType, User | None, Partner | None]:
    for name in ("icd10_code", "icd10_text", "icdo_morphology", "tnm", "accession_number"):
        check_text(getattr(data, name), field=name)
    check_text(data.question, field="question", multiline=True)
    data.icd10_code = normalize_icd10(data.icd10_code)
    if not ICD10_RE.match(data.icd10_code):
        raise InvalidInput(
            N_("„%(code)s“ ist kein ICD-10-GM-Kode (erwartet z. B. C18.7 oder C50.4 L)."),
            field="icd10_code",
            code=data.icd10_code[:20],
        )
    data.icd10_text = " ".join(data.icd10_text.split())
    if not data.icd10_text or len(data.icd10_text) > 300:
        raise InvalidInput(N_("Bitte die Diagnose als Text angeben (höchstens 300 Zeichen)."), field="icd10_text")
    data.icdo_morphology = (data.icdo_morphology or "").strip() or None
    if data.icdo_morphology and not ICDO_RE.match(data.icdo_morphology):
        raise InvalidInput(N_("Die ICD-O-Morphologie hat die Form 8140/3."), field="icdo_morphology")
    if data.diagnosis_date is not None and data.diagnosis_date < dt.date(1900, 1, 1):
        raise InvalidInput(N_("Das Diagnosedatum ist unplausibel."), field="diagnosis_date")
    data.tnm = " ".join((data.tnm or "").split())[:100] or None
    if data.ecog is not None and not 0 <= data.ecog <= 5:
        raise InvalidInput(N_("ECOG liegt zwischen 0 und 5."), field="ecog")
    data.question = (data.question or "").strip()
    if len(data.question) < 5:
        raise InvalidInput(N_("Bitte die Fragestellung an die Konferenz angeben."), field="question")
    if len(data.question) > 4000:
        raise InvalidInput(N_("Die Fragestellung darf höchstens 4000 Zeichen lang sein."), field="question")
    try:
        ctype = ConferenceType(data.conference_type)
    except ValueError:
        raise InvalidInput(N_("Unbekannter Konferenztyp."), field="conference_type") from None
    presenter = None
    if data.presenter_id is not None:
        presenter = session.get(User, data.presenter_id)
        if presenter is None or not presenter.active or presenter.role is not Role.PHYSICIAN:
            raise InvalidInput(N_("Vorstellen kann nur eine aktive Ärztin oder ein aktiver Arzt."), field="presenter")
    partner = None
    if data.referring_partner_id is not None:
        partner = session.get(Partner, data.referring_partner_id)
        if partner is None or not partner.active:
            raise InvalidInput(N_("Unbekannter Partner."), field="referring_partner")
    data.accession_number = (data.accession_number or "").strip()[:64] or None
    return ctype, presenter, partner


def resolve_patient(
    session: Session, data: PatientInput, *, partner: Partner | None, at: dt.datetime, actor: Actor
) -> Patient:
    """The patient with that KIS number — which must agree on name and birth date — or a new one."""
    existing = session.scalar(select(Patient).where(Patient.patient_number == data.patient_number.strip()))
    if existing is None:
        return create_patient(
            session,
            family_name=data.family_name,
            given_name=data.given_name,
            birth_date=data.birth_date,
            sex=data.sex,
            patient_number=data.patient_number,
            partner=partner,
            partner_patient_id=data.partner_patient_id,
            at=at,
            actor=actor,
        )
    from tumorboard.patients.names import name_key

    if existing.birth_date != data.birth_date or existing.name_key != name_key(data.family_name, data.given_name):
        raise Conflict(
            N_("Die Patientennummer gehört zu einer anderen Person (Name oder Geburtsdatum weichen ab)."),
            field="patient_number",
        )
    return existing


def next_open_session(session: Session, board: Board, at: dt.datetime) -> ConferenceSession:
    """The board's first planned session whose registration deadline is still ahead of ``at``."""
    today = at.astimezone(BERLIN).date()
    conf.generate_sessions(
        session,
        start=today,
        end=today + dt.timedelta(weeks=SEARCH_WEEKS),
        at=at,
        actor=Actor.system("registration"),
        boards=[board],
    )
    start, end = conf.day_range(today, today + dt.timedelta(weeks=SEARCH_WEEKS))
    for cs in conf.sessions_between(session, start, end, board=board):
        if cs.takes_place and cs.starts_at > at and conf.registration_deadline(cs) > at:
            return cs
    raise NotFound(N_("Für diese Konferenz ist in den nächsten Monaten keine Sitzung geplant."))


def _check_target(cs: ConferenceSession, at: dt.datetime) -> None:
    if cs.status is SessionStatus.CANCELLED:
        raise InvalidInput(N_("Die gewählte Sitzung ist abgesagt."), field="session")
    if cs.status is SessionStatus.HOLIDAY:
        raise InvalidInput(N_("Die gewählte Sitzung entfällt (Feiertag)."), field="session")
    if cs.starts_at <= at:
        raise InvalidInput(
            N_("Die gewählte Sitzung hat schon begonnen oder liegt in der Vergangenheit."), field="session"
        )


def _next_position(session: Session, cs: ConferenceSession) -> int:
    last = session.scalar(
        select(func.max(Case.position)).where(Case.session_id == cs.id, Case.status.in_(ACTIVE_STATUSES))
    )
    return (last or 0) + 1


def upcoming_cases_of_patient(session: Session, patient: Patient, at: dt.datetime) -> Sequence[Case]:
    """Active cases of the patient on sessions that have not started yet, on any board."""
    return session.scalars(
        select(Case)
        .join(ConferenceSession, Case.session_id == ConferenceSession.id)
        .where(Case.patient_id == patient.id, Case.status.in_(ACTIVE_STATUSES), ConferenceSession.starts_at > at)
        .order_by(ConferenceSession.starts_at)
    ).all()


@dataclass(frozen=True)
class Registration:
    """What the registration form gives, as plain values (ids, not objects)."""

    board_id: int
    patient: PatientInput
    case: CaseInput  #: ``referring_partner_id`` also says whose patient number ``patient`` carries
    #: A session chosen by the coordination (possibly past its deadline: a late registration); None: the next
    #: session with an open deadline.
    session_id: int | None = None
    #: The user saw the patient's upcoming cases and registers another one anyway.
    confirm_duplicate: bool = False


class DuplicateRegistration(Conflict):
    """The patient already has a case on an upcoming session; the form shows them and asks to confirm."""

    def __init__(self, cases: Sequence[Case]) -> None:
        super().__init__(N_("Für diese Person ist bereits ein Fall in einer kommenden Sitzung angemeldet."))
        self.cases = list(cases)


def register_case(
    session: Session, registration: Registration, *, registered_by: User, at: dt.datetime, actor: Actor
) -> Case:
    """The whole registration from the form: the patient found by KIS number (or created), a second upcoming case
    of that patient only when confirmed (:class:`DuplicateRegistration`), a chosen session only by the
    coordination, then the case itself (:func:`add_case`). Audited; the caller commits."""
    board = conf.get_board(session, registration.board_id)
    partner_id = registration.case.referring_partner_id
    partner = session.get(Partner, partner_id) if partner_id else None
    patient = resolve_patient(session, registration.patient, partner=partner, at=at, actor=actor)
    duplicates = upcoming_cases_of_patient(session, patient, at)
    if duplicates and not registration.confirm_duplicate:
        raise DuplicateRegistration(duplicates)
    target = None
    if registration.session_id:
        if not can_manage_case_list(registered_by):
            raise InvalidInput(N_("Die Sitzung wählt die Koordination."))
        target = conf.get_session(session, registration.session_id)
    data = dataclasses.replace(registration.case, referring_partner_id=partner.id if partner else None)
    return add_case(
        session, board=board, patient=patient, data=data, registered_by=registered_by, at=at, actor=actor, target=target
    )


def add_case(
    session: Session,
    *,
    board: Board,
    patient: Patient,
    data: CaseInput,
    registered_by: User,
    at: dt.datetime,
    actor: Actor,
    target: ConferenceSession | None = None,
) -> Case:
    """Add a case for a known patient. Without ``target`` it goes to the next session with an open deadline; a
    coordinator may name an earlier ``target`` whose deadline has passed, and the case is then marked late."""
    ctype, presenter, partner = _validate(session, data)
    if data.diagnosis_date is not None and data.diagnosis_date > at.astimezone(BERLIN).date():
        raise InvalidInput(N_("Das Diagnosedatum liegt in der Zukunft."), field="diagnosis_date")
    if data.diagnosis_date is not None and data.diagnosis_date < patient.birth_date:
        raise InvalidInput(N_("Das Diagnosedatum liegt vor dem Geburtsdatum."), field="diagnosis_date")
    if target is None:
        target = next_open_session(session, board, at)
        late = False
    else:
        if target.board_id != board.id:
            raise InvalidInput(N_("Die Sitzung gehört zu einer anderen Konferenz."), field="session")
        _check_target(target, at)
        late = conf.registration_deadline(target) <= at
        if late and registered_by.role not in (Role.COORDINATOR, Role.ADMIN):
            raise PermissionDenied(N_("Nachmeldungen nach dem Anmeldeschluss nimmt nur die Koordination an."))
    case = Case(
        patient=patient,
        board=board,
        session=target,
        position=_next_position(session, target),
        icd10_code=data.icd10_code,
        icd10_text=data.icd10_text,
        icdo_morphology=data.icdo_morphology,
        diagnosis_date=data.diagnosis_date,
        tnm=data.tnm,
        ecog=data.ecog,
        conference_type=ctype,
        question=data.question,
        registered_by=registered_by,
        presenter=presenter,
        referring_partner=partner,
        accession_number=data.accession_number,
        imaging_expected=data.imaging_expected,
        status=CaseStatus.REGISTERED,
        is_late=late,
        registered_at=at,
        updated_at=at,
    )
    session.add(case)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_REGISTER,
        subject_type=SubjectType.CASE,
        subject_id=case.id,
        at=at,
        after={
            "session_id": target.id,
            "board": board.short_name,
            "position": case.position,
            "late": late,
            "icd10": case.icd10_code,
            "type": ctype.value,
        },
    )
    _agenda_changed(session, target, at=at, actor=actor)
    return case


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(N_("Diesen Fall gibt es nicht."))
    return case


def session_cases(session: Session, cs: ConferenceSession, *, include_withdrawn: bool = False) -> Sequence[Case]:
    """The case list in order. Board and session are the caller's already, so they are not joined per row."""
    statuses = (*ACTIVE_STATUSES, CaseStatus.WITHDRAWN) if include_withdrawn else ACTIVE_STATUSES
    return session.scalars(
        select(Case)
        .options(lazyload(Case.board), lazyload(Case.session), lazyload(Case.registered_by))
        .where(Case.session_id == cs.id, Case.status.in_(statuses))
        .order_by(Case.position, Case.id)
    ).all()


def reorder_cases(
    session: Session, cs: ConferenceSession, ordered_ids: Sequence[int], *, at: dt.datetime, actor: Actor
) -> None:
    """Set the order of the case list; ``ordered_ids`` must name exactly the session's active cases. A cancelled
    session's list keeps its order (issue 13: the arrows stayed active there)."""
    if not cs.takes_place:
        raise Conflict(N_("Die Sitzung findet nicht statt; ihre Fallliste wird nicht mehr sortiert."))
    cases = session_cases(session, cs)
    if sorted(ordered_ids) != sorted(c.id for c in cases) or len(set(ordered_ids)) != len(ordered_ids):
        raise Conflict(N_("Die Fallliste hat sich inzwischen geändert. Bitte die Seite neu laden."))
    before = [c.id for c in cases]
    if before == list(ordered_ids):
        return
    by_id = {c.id: c for c in cases}
    for position, case_id in enumerate(ordered_ids, start=1):
        by_id[case_id].position = position
        by_id[case_id].updated_at = at
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_LIST_REORDER,
        subject_type=SubjectType.SESSION,
        subject_id=cs.id,
        at=at,
        before={"order": before},
        after={"order": list(ordered_ids)},
    )
    _agenda_changed(session, cs, at=at, actor=actor)


def move_case_by(session: Session, case: Case, delta: int, *, at: dt.datetime, actor: Actor) -> None:
    """Button fallback for drag and drop: one place up (-1) or down (+1)."""
    ids = [c.id for c in session_cases(session, case.session)]
    i = ids.index(case.id)
    j = i + delta
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
        reorder_cases(session, case.session, ids, at=at, actor=actor)


def _compact(session: Session, cs: ConferenceSession) -> None:
    for position, c in enumerate(session_cases(session, cs), start=1):
        c.position = position


def case_version(case: Case) -> str:
    """The version a page shows and a form sends back (``seen``): a digest (16 hex digits) of what the case page's
    forms change — the editable fields, session, status, presenter — and ``updated_at``. A digest of the content, not
    the time alone: two changes may carry the same timestamp (a coarse or fixed clock)."""
    state = [case.updated_at.isoformat(), case.session_id, case.status.value, case.presenter_id]
    state += [getattr(case, name) for name in EDITABLE]
    return hashlib.sha256(repr(state).encode()).hexdigest()[:16]


def ensure_unchanged(session: Session, case: Case, seen: str | None) -> None:
    """Refuse (Conflict, 409) a change made on a page drawn before the case last changed — a second window or a
    colleague saving at the same moment would otherwise overwrite the first change silently. The row is locked for
    the check (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the write transaction already holds the lock), so
    of two simultaneous saves the second sees the first. No ``seen`` (CLI, jobs): no check."""
    if not seen:
        return
    # lock the row alone (FOR UPDATE cannot apply to the eager outer joins of a refresh), then read it afresh
    session.execute(select(Case.id).where(Case.id == case.id).with_for_update())
    session.refresh(case)
    if case_version(case) != seen:
        raise Conflict(
            N_(
                "Der Fall wurde inzwischen geändert (von jemand anderem oder in einem anderen Fenster). Bitte die "
                "aktuelle Fassung prüfen und erneut speichern."
            )
        )


def move_case(
    session: Session,
    case: Case,
    target: ConferenceSession,
    *,
    reason: str | None,
    at: dt.datetime,
    actor: Actor,
    seen: str | None = None,
) -> Case:
    """Put the case on another session (of any board); a target past its deadline marks it late. ``seen``: the
    version of the page the move came from (``ensure_unchanged``)."""
    text = require_reason(reason, N_("Bitte einen Grund für die Verlegung angeben."))
    ensure_unchanged(session, case, seen)
    if case.status not in (CaseStatus.REGISTERED, CaseStatus.COMPLETE):
        raise Conflict(N_("Nur angemeldete oder vollständige Fälle können verlegt werden."))
    if target.id == case.session_id:
        raise InvalidInput(N_("Der Fall steht schon auf dieser Sitzung."), field="session")
    _check_target(target, at)
    source = case.session
    before = {"session_id": source.id, "board": case.board.short_name, "late": case.is_late}
    position = _next_position(session, target)  # before the case itself joins the target list
    case.moved_from_session = source
    case.session = target
    case.board = target.board
    case.position = position
    case.is_late = conf.registration_deadline(target) <= at
    case.updated_at = at
    session.flush()
    _compact(session, source)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_MOVE,
        subject_type=SubjectType.CASE,
        subject_id=case.id,
        at=at,
        before=before,
        after={"session_id": target.id, "board": target.board.short_name, "late": case.is_late},
        reason=text,
    )
    _agenda_changed(session, source, at=at, actor=actor)
    _agenda_changed(session, target, at=at, actor=actor)
    return case


def withdraw_case(session: Session, case: Case, *, reason: str | None, at: dt.datetime, actor: Actor) -> Case:
    """Withdraw a case from its session (reason required); it stays on record, marked in the agenda."""
    text = require_reason(reason, N_("Bitte einen Grund für das Zurückziehen angeben."))
    if case.status in (CaseStatus.WITHDRAWN, CaseStatus.DISCUSSED):
        raise Conflict(N_("Dieser Fall kann nicht mehr zurückgezogen werden."))
    before = case.status.value
    case.status = CaseStatus.WITHDRAWN
    case.withdraw_reason = text
    case.updated_at = at
    session.flush()
    _compact(session, case.session)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_WITHDRAW,
        subject_type=SubjectType.CASE,
        subject_id=case.id,
        at=at,
        before={"status": before},
        after={"status": case.status.value},
        reason=text,
    )
    _agenda_changed(session, case.session, at=at, actor=actor)
    return case


_STATUS_FLOW = {
    CaseStatus.REGISTERED: {CaseStatus.COMPLETE},
    CaseStatus.COMPLETE: {CaseStatus.REGISTERED, CaseStatus.DISCUSSED},
    CaseStatus.DISCUSSED: {CaseStatus.COMPLETE},
}


def set_case_status(session: Session, case: Case, status: CaseStatus | str, *, at: dt.datetime, actor: Actor) -> None:
    """angemeldet → vollständig → besprochen (and one step back, for corrections)."""
    try:
        new = CaseStatus(status)
    except ValueError:
        raise InvalidInput(N_("Unbekannter Status."), field="status") from None
    if new not in _STATUS_FLOW.get(case.status, set()):
        raise Conflict(N_("Dieser Statuswechsel ist nicht möglich."))
    _apply_status(session, case, new, at=at, actor=actor)


def mark_discussed(session: Session, case: Case, *, at: dt.datetime, actor: Actor) -> None:
    """The board recorded its recommendation: "besprochen" in one step from any active status (idempotent)."""
    if case.status is not CaseStatus.DISCUSSED:
        _apply_status(session, case, CaseStatus.DISCUSSED, at=at, actor=actor)


def _apply_status(session: Session, case: Case, new: CaseStatus, *, at: dt.datetime, actor: Actor) -> None:
    before = case.status.value
    case.status = new
    case.updated_at = at
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_STATUS,
        subject_type=SubjectType.CASE,
        subject_id=case.id,
        at=at,
        before={"status": before},
        after={"status": new.value},
    )


def set_presenter(session: Session, case: Case, presenter_id: int | None, *, at: dt.datetime, actor: Actor) -> None:
    presenter = None
    if presenter_id is not None:
        presenter = session.get(User, presenter_id)
        if presenter is None or not presenter.active or presenter.role is not Role.PHYSICIAN:
            raise InvalidInput(N_("Vorstellen kann nur eine aktive Ärztin oder ein aktiver Arzt."), field="presenter")
    before = case.presenter_id
    if before == presenter_id:
        return
    case.presenter = presenter
    case.updated_at = at
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_PRESENTER,
        subject_type=SubjectType.CASE,
        subject_id=case.id,
        at=at,
        before={"presenter_id": before},
        after={"presenter_id": presenter_id},
    )


def cases_of_physician(session: Session, user: User, at: dt.datetime) -> Sequence[Case]:
    """ "Meine Fälle": active cases the user registered or presents, on sessions from today on."""
    from sqlalchemy import or_

    today_start = conf.day_range(at.astimezone(BERLIN).date(), at.astimezone(BERLIN).date())[0]
    return session.scalars(
        select(Case)
        .join(ConferenceSession, Case.session_id == ConferenceSession.id)
        .where(
            or_(Case.registered_by_id == user.id, Case.presenter_id == user.id),
            Case.status.in_(ACTIVE_STATUSES),
            ConferenceSession.starts_at >= today_start,
        )
        .order_by(ConferenceSession.starts_at, Case.position)
    ).all()


def cases_of_patients(session: Session, patient_ids: Sequence[int]) -> Sequence[Case]:
    if not patient_ids:
        return []
    return session.scalars(
        select(Case).where(Case.patient_id.in_(patient_ids)).order_by(Case.registered_at.desc())
    ).all()


def _agenda_changed(session: Session, cs: ConferenceSession, *, at: dt.datetime, actor: Actor) -> None:
    from tumorboard.cases.agenda import refresh_agenda

    refresh_agenda(session, cs, at=at, actor=actor)


class CaseDisposition(enum.StrEnum):
    """What happens to the cases of a session that is cancelled or moved (issue 13); stored by value in the audit
    event of the decision."""

    NEXT = "next"  #: all to the board's next session that takes place
    CHOSEN = "chosen"  #: all to a session the coordinator chose
    KEEP = "keep"  #: they stay where they are (on a moved session: they go with it)
    WITHDRAW = "withdraw"  #: all withdrawn, with the session's reason


def movable_cases(session: Session, cs: ConferenceSession) -> Sequence[Case]:
    """The cases a cancellation or move decides about: registered or complete (discussed ones stay put)."""
    return [c for c in session_cases(session, cs) if c.status in (CaseStatus.REGISTERED, CaseStatus.COMPLETE)]


def next_session_after(
    session: Session, cs: ConferenceSession, *, at: dt.datetime, generate: bool = True
) -> ConferenceSession | None:
    """The board's first session after ``cs`` (and after ``at``) that takes place. With ``generate`` the series'
    sessions are generated first (a page that only shows the choice passes False: a GET writes nothing)."""
    after = max(cs.original_starts_at or cs.starts_at, cs.starts_at, at)
    day = after.astimezone(BERLIN).date()
    if generate:
        conf.generate_sessions(
            session,
            start=day,
            end=day + dt.timedelta(weeks=SEARCH_WEEKS),
            at=at,
            actor=Actor.system("registration"),
            boards=[cs.board],
        )
    start, end = conf.day_range(day, day + dt.timedelta(weeks=SEARCH_WEEKS))
    for other in conf.sessions_between(session, start, end, board=cs.board):
        if other.id != cs.id and other.takes_place and other.starts_at > after:
            return other
    return None


def target_choices(session: Session, cs: ConferenceSession, *, at: dt.datetime) -> Sequence[ConferenceSession]:
    """Sessions of the same board a coordinator may choose for the cases of ``cs``: upcoming, taking place."""
    today = at.astimezone(BERLIN).date()
    start, end = conf.day_range(today, today + dt.timedelta(weeks=SEARCH_WEEKS))
    return [
        other
        for other in conf.sessions_between(session, start, end, board=cs.board)
        if other.id != cs.id and other.takes_place and other.starts_at > at
    ]


def _dispose_cases(
    session: Session,
    cs: ConferenceSession,
    cases: Sequence[Case],
    disposition: CaseDisposition | str | None,
    *,
    target_id: int | None,
    why: str,
    at: dt.datetime,
    actor: Actor,
) -> ConferenceSession | None:
    if not cases:
        return None
    try:
        chosen = CaseDisposition(disposition) if disposition else None
    except ValueError:
        chosen = None
    if chosen is None:
        raise InvalidInput(
            N_("Auf dieser Sitzung stehen %(n)s Fälle. Bitte wählen, was mit ihnen geschieht."),
            field="cases",
            n=len(cases),
        )
    target: ConferenceSession | None = None
    if chosen is CaseDisposition.NEXT:
        target = next_session_after(session, cs, at=at)
        if target is None:
            raise InvalidInput(
                N_("Für diese Konferenz ist keine weitere Sitzung geplant. Bitte eine Sitzung wählen."), field="cases"
            )
    elif chosen is CaseDisposition.CHOSEN:
        target = session.get(ConferenceSession, target_id) if target_id else None
        if target is None:
            raise InvalidInput(N_("Bitte die Sitzung wählen, auf die die Fälle verschoben werden."), field="target")
        if target.id == cs.id:
            raise InvalidInput(N_("Bitte eine andere Sitzung wählen."), field="target")
    ids = [c.id for c in cases]
    for case in cases:
        if target is not None:
            move_case(session, case, target, reason=why, at=at, actor=actor)
        elif chosen is CaseDisposition.WITHDRAW:
            withdraw_case(session, case, reason=why, at=at, actor=actor)
    record_event(
        session,
        actor=actor,
        tag=Tag.CONFERENCE_SESSION_CASES,
        subject_type=SubjectType.SESSION,
        subject_id=cs.id,
        at=at,
        after={"disposition": chosen.value, "cases": ids, "target_session_id": target.id if target else None},
        reason=why,
    )
    return target


def _prefixed(what: str, reason: str) -> str:
    """The reason each case's move or withdrawal keeps: what happened to its session, and why (the session's reason
    alone when both would exceed the audit column)."""
    text = f"{what}: {reason}"
    return text if len(text) <= MAX_REASON_LENGTH else reason


def cancel_session_with_cases(
    session: Session,
    cs: ConferenceSession,
    *,
    reason: str | None,
    disposition: CaseDisposition | str | None,
    target_id: int | None = None,
    at: dt.datetime,
    actor: Actor,
) -> ConferenceSession | None:
    """Cancel a session and decide about its cases in the same transaction: all to the board's next session (or a
    chosen one), kept, or withdrawn. Without cases it is a plain cancellation. Returns the cases' new session."""
    cases = movable_cases(session, cs)
    conf.cancel_session(session, cs, reason=reason, at=at, actor=actor)
    assert cs.cancel_reason is not None
    why = _prefixed("Sitzung abgesagt", cs.cancel_reason)
    return _dispose_cases(session, cs, cases, disposition, target_id=target_id, why=why, at=at, actor=actor)


def move_session_with_cases(
    session: Session,
    cs: ConferenceSession,
    *,
    day: dt.date,
    start: dt.time,
    reason: str | None,
    disposition: CaseDisposition | str | None,
    target_id: int | None = None,
    duration_minutes: int | None = None,
    at: dt.datetime,
    actor: Actor,
) -> ConferenceSession | None:
    """Move a session and decide about its cases: they go with it (keep), to the board's next session, to a chosen
    one, or are withdrawn."""
    cases = movable_cases(session, cs)
    conf.move_session(
        session, cs, day=day, start=start, reason=reason, duration_minutes=duration_minutes, at=at, actor=actor
    )
    assert cs.move_reason is not None
    why = _prefixed("Sitzung verschoben", cs.move_reason)
    return _dispose_cases(session, cs, cases, disposition, target_id=target_id, why=why, at=at, actor=actor)


#: The case fields an edit may change (issue 13); patient, board and session change by their own actions.
EDITABLE = ("icd10_code", "icd10_text", "icdo_morphology", "tnm", "ecog", "conference_type", "question",
            "accession_number", "imaging_expected")  # fmt: skip


def _case_values(case: Case) -> dict[str, object]:
    values = {name: getattr(case, name) for name in EDITABLE}
    values["conference_type"] = case.conference_type.value
    return values


def edit_case(
    session: Session,
    case: Case,
    data: CaseInput,
    *,
    editor: User,
    reason: str | None,
    frozen: bool,
    at: dt.datetime,
    actor: Actor,
    seen: str | None = None,
) -> Case:
    """Correct a registered case (a typo need not mean withdraw and register again). Until the agenda is frozen
    (``frozen``: the session has an agenda version) the registrant or a coordinator may; afterwards only a
    coordinator, with a reason, and the agenda's next version marks the case as changed. Before and after go to the
    audit log, only the fields that changed. ``seen``: the version of the page the edit came from; a stale page is
    a Conflict (``ensure_unchanged``)."""
    ensure_unchanged(session, case, seen)
    if case.status not in (CaseStatus.REGISTERED, CaseStatus.COMPLETE):
        raise Conflict(N_("Nur angemeldete oder vollständige Fälle können bearbeitet werden."))
    coordinator = can_manage_case_list(editor)
    if not coordinator and editor.id != case.registered_by_id:
        raise PermissionDenied(N_("Einen Fall bearbeiten die anmeldende Person und die Koordination."))
    text = None
    if frozen:
        if not coordinator:
            raise PermissionDenied(
                N_("Die Tagesordnung ist eingefroren; Änderungen nimmt jetzt nur die Koordination vor.")
            )
        text = require_reason(reason, N_("Bitte einen Grund für die Änderung nach dem Einfrieren angeben."))
    data = dataclasses.replace(data, presenter_id=None, referring_partner_id=None)
    ctype, _, _ = _validate(session, data)
    before = _case_values(case)
    case.icd10_code, case.icd10_text, case.icdo_morphology = data.icd10_code, data.icd10_text, data.icdo_morphology
    case.tnm, case.ecog, case.conference_type, case.question = data.tnm, data.ecog, ctype, data.question
    case.accession_number, case.imaging_expected = data.accession_number, data.imaging_expected
    after = _case_values(case)
    if after == before:
        raise InvalidInput(N_("Es wurde nichts geändert."), field="question")
    case.updated_at = at
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_EDIT,
        subject_type=SubjectType.CASE,
        subject_id=case.id,
        at=at,
        before={k: v for k, v in before.items() if after[k] != v},
        after={k: v for k, v in after.items() if before[k] != v},
        reason=text,
    )
    _agenda_changed(session, case.session, at=at, actor=actor)
    return case
