"""Recommendations, the signed protocol with its versions, amendments and the follow-up.

Once a protocol version of a session is signed, nothing it contains changes again: every service here refuses
(``Conflict``), the models refuse (``LockedRecord``) and the database refuses (triggers). A correction is an
amendment: a new revision of the recommendation and a new signed protocol version with author, time, reason and the
visible difference to the previous version (§ 630f BGB; requirements R6, R7, R12, R13).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tumorboard.attendance.models import Attendance
from tumorboard.attendance.services import list_attendance, live_quorum, present_at
from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.auth.models import User
from tumorboard.auth.passwords import verify_password
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.cases.services import mark_discussed, session_cases
from tumorboard.clock import BERLIN
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tumorboard.hygiene import check_text
from tumorboard.i18n import N_
from tumorboard.protocol.models import (
    THERAPY_TYPES,
    DeviationCause,
    FollowUpStatus,
    ProtocolVersion,
    Recommendation,
    RecommendationFollowUp,
    RecommendationParticipant,
)

SIGNED = N_("Das Protokoll dieser Sitzung ist unterschrieben; Änderungen sind nur noch als Nachtrag möglich.")


@dataclass
class RecommendationInput:
    therapy_types: Sequence[str]
    text: str
    trial_recommended: bool = False
    trial_name: str | None = None
    representation_wanted: bool = False
    representation_date: dt.date | None = None
    representation_board_id: int | None = None
    guideline_deviation: bool = False
    deviation_reason: str | None = None


def _text(value: str | None, *, field: str = "text") -> str:
    """Free text of a recommendation, reason or note, stripped; control characters refused."""
    check_text(value, field=field, multiline=True)
    return (value or "").strip()


def _validate(session: Session, data: RecommendationInput) -> dict[str, object]:
    codes = [c.strip().upper() for c in data.therapy_types if c.strip()]
    unknown = [c for c in codes if c not in THERAPY_TYPES]
    if unknown:
        raise InvalidInput(N_("Unbekannter Therapietyp: %(code)s"), field="therapy_types", code=unknown[0][:10])
    if not codes:
        raise InvalidInput(N_("Bitte mindestens einen Therapietyp (oBDS) wählen."), field="therapy_types")
    text = _text(data.text)
    if len(text) < 3:
        raise InvalidInput(N_("Bitte die Empfehlung im Wortlaut eingeben."), field="text")
    trial = _text(data.trial_name, field="trial_name") or None
    if data.trial_recommended and not trial:
        raise InvalidInput(N_("Bitte angeben, welche Studie empfohlen wird."), field="trial_name")
    reason = _text(data.deviation_reason, field="deviation_reason") or None
    if data.guideline_deviation and (reason is None or len(reason) < 3):
        raise InvalidInput(N_("Bitte die Abweichung von der Leitlinie begründen."), field="deviation_reason")
    board_id = data.representation_board_id or None
    if board_id is not None and session.get(Board, board_id) is None:
        raise InvalidInput(N_("Diese Konferenz gibt es nicht."), field="representation_board")
    if data.representation_wanted and data.representation_date is None and board_id is None:
        raise InvalidInput(
            N_("Für eine Wiedervorstellung bitte ein Datum oder eine Konferenz angeben."), field="representation"
        )
    return {
        "therapy_types": list(dict.fromkeys(codes)),
        "text": text[:20000],
        "trial_recommended": bool(data.trial_recommended),
        "trial_name": trial if data.trial_recommended else None,
        "representation_wanted": bool(data.representation_wanted),
        "representation_date": data.representation_date if data.representation_wanted else None,
        "representation_board_id": board_id if data.representation_wanted else None,
        "guideline_deviation": bool(data.guideline_deviation),
        "deviation_reason": reason if data.guideline_deviation else None,
    }


def is_signed(session: Session, cs: ConferenceSession) -> bool:
    return session.scalar(select(ProtocolVersion.id).where(ProtocolVersion.session_id == cs.id).limit(1)) is not None


def is_listed(session: Session, attendance: Attendance) -> bool:
    """Whether a recommendation names this attendance row as a participant (then its check-in cannot be undone)."""
    found = session.scalar(
        select(RecommendationParticipant.id).where(RecommendationParticipant.attendance_id == attendance.id).limit(1)
    )
    return found is not None


def versions(session: Session, cs: ConferenceSession) -> Sequence[ProtocolVersion]:
    return session.scalars(
        select(ProtocolVersion).where(ProtocolVersion.session_id == cs.id).order_by(ProtocolVersion.version)
    ).all()


def get_version(session: Session, cs: ConferenceSession, number: int) -> ProtocolVersion:
    found = session.scalar(
        select(ProtocolVersion).where(ProtocolVersion.session_id == cs.id, ProtocolVersion.version == number)
    )
    if found is None:
        raise NotFound(N_("Diese Protokollversion gibt es nicht."))
    return found


def current_recommendation(session: Session, case: Case) -> Recommendation | None:
    return session.scalar(
        select(Recommendation).where(Recommendation.case_id == case.id).order_by(Recommendation.revision.desc())
    )


def recommendations_of(session: Session, cs: ConferenceSession) -> dict[int, Recommendation]:
    """The current revision per case of the session."""
    out: dict[int, Recommendation] = {}
    for rec in session.scalars(
        select(Recommendation).where(Recommendation.session_id == cs.id).order_by(Recommendation.revision)
    ):
        out[rec.case_id] = rec
    return out


def _snapshot(rec: Recommendation, rows: Sequence[Attendance], *, corrected: bool = False) -> None:
    for a in rows:
        rec.participants.append(
            RecommendationParticipant(
                attendance_id=a.id,
                name=a.name,
                institution=a.institution,
                discipline=a.discipline,
                mode=a.mode.value,
                stands_in_for_name=a.stands_in_for_name,
                stands_in_for_discipline=a.stands_in_for_discipline,
                corrected=corrected,
            )
        )


def record_recommendation(
    session: Session,
    case: Case,
    data: RecommendationInput,
    *,
    user: User,
    at: dt.datetime,
    actor: Actor,
    quorum_reason: str | None = None,
) -> Recommendation:
    """Record (or, before signing, correct) the board's recommendation for ``case``.

    The participants present at this moment are stored with it. Without the board's quorum a reason is required,
    and the recommendation is logged as a nonconformity (``protocol:quorum:nonconformity``). The case becomes
    "besprochen".
    """
    cs = case.session
    check_may_run(session, cs, user)
    if is_signed(session, cs):
        raise Conflict(SIGNED)
    if case.status is CaseStatus.WITHDRAWN:
        raise Conflict(N_("Der Fall wurde zurückgezogen; es gibt keine Empfehlung."))
    if not cs.takes_place:
        raise Conflict(N_("Diese Sitzung findet nicht statt."))
    if at < cs.starts_at - dt.timedelta(minutes=30):
        raise Conflict(N_("Empfehlungen werden erst in der Sitzung erfasst."))
    values = _validate(session, data)
    existing = current_recommendation(session, case)
    if existing is not None:
        before = {k: getattr(existing, k) for k in values}
        for key, value in values.items():
            setattr(existing, key, value)
        existing.updated_at = at
        session.flush()
        record_event(
            session,
            actor=actor,
            tag=Tag.PROTOCOL_RECOMMENDATION_UPDATE,
            subject_type=SubjectType.RECOMMENDATION,
            subject_id=existing.id,
            at=at,
            before=before,
            after=values,
        )
        return existing
    status = live_quorum(session, cs, at)
    reason = _text(quorum_reason, field="quorum_reason") or None
    if not status.met and (reason is None or len(reason) < 3):
        raise InvalidInput(
            N_(
                "Das Quorum ist nicht erfüllt (es fehlt: %(missing)s). Eine Empfehlung ohne Quorum braucht eine "
                "Begründung; es wurde nichts gespeichert."
            ),
            field="quorum_reason",
            missing=", ".join(status.missing),
        )
    rec = Recommendation(
        case_id=case.id,
        session_id=cs.id,
        revision=1,
        quorum_met=status.met,
        quorum_reason=None if status.met else reason,
        recorded_at=at,
        recorded_by_id=user.id,
        updated_at=at,
        **values,
    )
    session.add(rec)
    _snapshot(rec, present_at(list_attendance(session, cs), at))
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.PROTOCOL_RECOMMENDATION_RECORD,
        subject_type=SubjectType.RECOMMENDATION,
        subject_id=rec.id,
        at=at,
        after={**values, "case_id": case.id, "participants": [p.attendance_id for p in rec.participants]},
    )
    if not status.met:
        record_event(
            session,
            actor=actor,
            tag=Tag.PROTOCOL_QUORUM_NONCONFORMITY,
            subject_type=SubjectType.RECOMMENDATION,
            subject_id=rec.id,
            at=at,
            after={"case_id": case.id, "session_id": cs.id, "missing": list(status.missing)},
            reason=reason,
        )
    mark_discussed(session, case, at=at, actor=actor)
    return rec


def correct_participant(
    session: Session,
    rec: Recommendation,
    attendance: Attendance,
    *,
    present: bool,
    reason: str | None,
    at: dt.datetime,
    actor: Actor,
) -> Recommendation:
    """Correct who was present at a case (before signing), with a reason; audited. The coordinator or the board's
    moderation (system actors: the CLI and the demo loader)."""
    if actor.user_id is not None:
        by = session.get(User, actor.user_id)
        if by is not None:
            check_may_run(session, rec.session, by)
    if is_signed(session, rec.session) or rec.locked_at is not None:
        raise Conflict(SIGNED)
    if attendance.session_id != rec.session_id:
        raise InvalidInput(N_("Diese Person war nicht in dieser Sitzung."), field="attendance")
    text = _text(reason, field="reason")
    if len(text) < 3:
        raise InvalidInput(N_("Bitte einen Grund für die Korrektur angeben."), field="reason")
    listed = next((p for p in rec.participants if p.attendance_id == attendance.id), None)
    if present and listed is None:
        _snapshot(rec, [attendance], corrected=True)
    elif not present and listed is not None:
        rec.participants.remove(listed)
        session.delete(listed)
    else:
        return rec
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.PROTOCOL_PARTICIPANT_CORRECT,
        subject_type=SubjectType.RECOMMENDATION,
        subject_id=rec.id,
        at=at,
        after={"attendance_id": attendance.id, "present": present},
        reason=text[:1000],
    )
    return rec


# --- the protocol as data, text and PDF ----------------------------------------------------------------------------
@dataclass
class CaseEntry:
    case: Case
    recommendation: Recommendation | None
    follow_up: RecommendationFollowUp | None = None


@dataclass
class ProtocolData:
    """Everything a protocol document shows; built the same way for the draft, for signing and for exports."""

    session: ConferenceSession
    entries: list[CaseEntry]
    attendance: list[Attendance]
    version: int | None = None
    signed_at: dt.datetime | None = None
    signed_by: str | None = None
    reason: str | None = None
    previous: list[ProtocolVersion] = field(default_factory=list)


def protocol_data(session: Session, cs: ConferenceSession) -> ProtocolData:
    recs = recommendations_of(session, cs)
    entries = [CaseEntry(c, recs.get(c.id), latest_follow_up(session, c)) for c in session_cases(session, cs)]
    return ProtocolData(session=cs, entries=entries, attendance=list(list_attendance(session, cs)))


def _hm(value: dt.datetime | None) -> str:
    return value.astimezone(BERLIN).strftime("%H:%M") if value else "–"


def protocol_text(data: ProtocolData) -> str:
    """The protocol as plain lines (German, fixed wording): what the versions' difference is computed from."""
    cs = data.session
    lines = [f"Protokoll {cs.board.name}, {cs.local_start:%d.%m.%Y %H:%M}", "", "Teilnehmer:"]
    for a in data.attendance:
        sub = f", vertritt {a.stands_in_for_name} ({a.stands_in_for_discipline})" if a.stands_in_for_name else ""
        inst = f", {a.institution}" if a.institution else ""
        lines.append(f"- {a.name} ({a.discipline}{inst}), {a.mode.value}, {_hm(a.arrived_at)}–{_hm(a.left_at)}{sub}")
    for number, entry in enumerate(data.entries, start=1):
        case, rec = entry.case, entry.recommendation
        lines += ["", f"Fall {number}: {case.icd10_code} {case.icd10_text}", f"Fragestellung: {case.question}"]
        if rec is None:
            lines.append("Keine Empfehlung (nicht besprochen).")
            continue
        lines.append(f"Therapietypen: {', '.join(rec.therapy_types)}")
        lines += [f"Empfehlung: {line}" for line in rec.text.splitlines()]
        lines.append(f"Studie: {rec.trial_name if rec.trial_recommended else 'nein'}")
        if rec.representation_wanted:
            board = rec.representation_board.short_name if rec.representation_board else ""
            when = f"{rec.representation_date:%d.%m.%Y}" if rec.representation_date else ""
            lines.append(f"Wiedervorstellung: {' '.join(x for x in (when, board) if x)}")
        else:
            lines.append("Wiedervorstellung: nein")
        lines.append(f"Leitlinienabweichung: {rec.deviation_reason if rec.guideline_deviation else 'nein'}")
        if not rec.quorum_met:
            lines.append(f"Quorum nicht erfüllt, Begründung: {rec.quorum_reason}")
        lines.append("Anwesend: " + "; ".join(f"{p.name} ({p.discipline})" for p in rec.participants))
        if rec.revision > 1:
            lines.append(f"Nachtrag (Revision {rec.revision}): {rec.amendment_reason}")
    return "\n".join(lines) + "\n"


def version_diff(older: ProtocolVersion, newer: ProtocolVersion) -> list[str]:
    """Unified diff of two versions' texts (lines starting with - and + are the change)."""
    return list(
        difflib.unified_diff(
            older.text.splitlines(),
            newer.text.splitlines(),
            fromfile=f"Version {older.version}",
            tofile=f"Version {newer.version}",
            lineterm="",
            n=2,
        )
    )


Renderer = Callable[[ProtocolData], bytes]


def _check_signer(session: Session, cs: ConferenceSession, user: User, password: str) -> None:
    check_may_sign(session, cs, user)
    if not verify_password(user.password_hash, password or ""):
        raise InvalidInput(
            N_("Das Passwort ist falsch. Es wurde nichts unterschrieben und nichts geändert."), field="password"
        )


def check_may_sign(session: Session, cs: ConferenceSession, user: User) -> None:
    """Only the board's moderator or a deputy who is checked in to this session signs (protocol and amendments)."""
    from tumorboard.access.permissions import moderates
    from tumorboard.protocol.permissions import checked_in

    if not moderates(session, user, cs.board_id):
        raise PermissionDenied(
            N_(
                "Unterschreiben und Nachträge kann nur die Moderation dieser Konferenz oder ihre Stellvertretung. "
                "Es wurde nichts unterschrieben und nichts geändert."
            )
        )
    if not checked_in(session, user, cs):
        raise PermissionDenied(
            N_(
                "Unterschreiben kann nur, wer an dieser Sitzung teilgenommen hat und eingecheckt ist. Es wurde nichts "
                "unterschrieben und nichts geändert."
            )
        )


def check_may_run(session: Session, cs: ConferenceSession, user: User) -> None:
    """Recommendations, participant corrections: the coordinator or the board's moderation."""
    from tumorboard.attendance.permissions import can_run_session

    if not can_run_session(session, user, cs):
        raise PermissionDenied(N_("Empfehlungen erfasst nur die Koordination oder die Moderation dieser Konferenz."))


def _new_version(
    session: Session,
    cs: ConferenceSession,
    *,
    user: User,
    render: Renderer,
    at: dt.datetime,
    reason: str | None,
) -> ProtocolVersion:
    number = (
        session.scalar(select(func.max(ProtocolVersion.version)).where(ProtocolVersion.session_id == cs.id)) or 0
    ) + 1
    data = protocol_data(session, cs)
    data.version, data.signed_at, data.signed_by, data.reason = number, at, user.display_name, reason
    data.previous = list(versions(session, cs))
    pdf = render(data)
    version = ProtocolVersion(
        session_id=cs.id,
        version=number,
        signed_at=at,
        signed_by_id=user.id,
        signed_by_name=user.display_name,
        reason=reason,
        text=protocol_text(data),
        pdf=pdf,
        sha256=hashlib.sha256(pdf).hexdigest(),
    )
    session.add(version)
    for entry in data.entries:
        if entry.recommendation is not None and entry.recommendation.locked_at is None:
            entry.recommendation.locked_at = at
    session.flush()
    return version


def sign_protocol(
    session: Session,
    cs: ConferenceSession,
    *,
    user: User,
    password: str,
    render: Renderer,
    at: dt.datetime,
    actor: Actor,
) -> ProtocolVersion:
    """The moderator signs version 1 after re-entering the password; the PDF and its SHA-256 are stored."""
    if is_signed(session, cs):
        raise Conflict(N_("Das Protokoll ist schon unterschrieben. Änderungen bitte als Nachtrag."))
    if at < cs.starts_at:
        raise Conflict(
            N_("Das Protokoll kann erst ab Beginn der Sitzung (%(start)s Uhr) unterschrieben werden."),
            start=cs.local_start.strftime("%d.%m.%Y %H:%M"),
        )
    _check_signer(session, cs, user, password)
    recs = recommendations_of(session, cs)
    if not recs:
        raise Conflict(N_("Es gibt noch keine Empfehlung; ein leeres Protokoll kann nicht unterschrieben werden."))
    open_rows = [a for a in list_attendance(session, cs) if a.left_at is None and a.arrived_at > at]
    if open_rows:
        raise Conflict(N_("Eine Ankunftszeit liegt nach dem Zeitpunkt der Unterschrift."))
    version = _new_version(session, cs, user=user, render=render, at=at, reason=None)
    record_event(
        session,
        actor=actor,
        tag=Tag.PROTOCOL_VERSION_SIGN,
        subject_type=SubjectType.SESSION,
        subject_id=cs.id,
        at=at,
        after={"version": version.version, "sha256": version.sha256, "recommendations": sorted(recs)},
    )
    return version


def amend_recommendation(
    session: Session,
    case: Case,
    data: RecommendationInput,
    *,
    reason: str | None,
    user: User,
    password: str,
    render: Renderer,
    at: dt.datetime,
    actor: Actor,
) -> ProtocolVersion:
    """Nachtrag: revision n+1 of the case's recommendation and protocol version n+1, signed by the author.
    Everything signed before stays as it was."""
    cs = case.session
    check_may_sign(session, cs, user)
    if not is_signed(session, cs):
        raise Conflict(N_("Das Protokoll ist noch nicht unterschrieben; die Empfehlung kann direkt geändert werden."))
    old = current_recommendation(session, case)
    if old is None:
        raise Conflict(N_("Für diesen Fall gibt es keine Empfehlung, die ergänzt werden könnte."))
    text = _text(reason, field="reason")
    if len(text) < 3:
        raise InvalidInput(N_("Bitte den Grund des Nachtrags angeben."), field="reason")
    values = _validate(session, data)
    if all(getattr(old, k) == v for k, v in values.items()):
        raise InvalidInput(N_("Der Nachtrag ändert nichts an der Empfehlung."), field="text")
    if not verify_password(user.password_hash, password or ""):
        raise InvalidInput(
            N_("Das Passwort ist falsch. Es wurde nichts unterschrieben und nichts geändert."), field="password"
        )
    new = Recommendation(
        case_id=case.id,
        session_id=cs.id,
        revision=old.revision + 1,
        quorum_met=old.quorum_met,
        quorum_reason=old.quorum_reason,
        recorded_at=at,
        recorded_by_id=user.id,
        amendment_reason=text[:2000],
        updated_at=at,
        **values,
    )
    session.add(new)
    for p in old.participants:
        new.participants.append(
            RecommendationParticipant(
                attendance_id=p.attendance_id,
                name=p.name,
                institution=p.institution,
                discipline=p.discipline,
                mode=p.mode,
                stands_in_for_name=p.stands_in_for_name,
                stands_in_for_discipline=p.stands_in_for_discipline,
                corrected=p.corrected,
            )
        )
    session.flush()
    version = _new_version(session, cs, user=user, render=render, at=at, reason=text[:2000])
    record_event(
        session,
        actor=actor,
        tag=Tag.PROTOCOL_RECOMMENDATION_AMEND,
        subject_type=SubjectType.RECOMMENDATION,
        subject_id=new.id,
        at=at,
        before={k: getattr(old, k) for k in values},
        after={**values, "revision": new.revision, "version": version.version, "sha256": version.sha256},
        reason=text[:1000],
    )
    return version


# --- follow-up -----------------------------------------------------------------------------------------------------
def latest_follow_up(session: Session, case: Case) -> RecommendationFollowUp | None:
    return session.scalar(
        select(RecommendationFollowUp)
        .where(RecommendationFollowUp.case_id == case.id)
        .order_by(RecommendationFollowUp.id.desc())
    )


def record_follow_up(
    session: Session,
    case: Case,
    *,
    status: FollowUpStatus | str,
    cause: DeviationCause | str | None,
    note: str | None,
    user: User,
    at: dt.datetime,
    actor: Actor,
) -> RecommendationFollowUp:
    """Umsetzung der Empfehlung: umgesetzt, or abgewichen with a cause (R7). A later entry supersedes. Recorded by
    the coordinator, the board's moderation, or the physician who registered or presents the case."""
    if user.id not in (case.registered_by_id, case.presenter_id):
        check_may_run(session, case.session, user)
    if current_recommendation(session, case) is None:
        raise Conflict(N_("Für diesen Fall gibt es keine Empfehlung."))
    try:
        state = FollowUpStatus(status)
    except ValueError:
        raise InvalidInput(N_("Bitte „umgesetzt“ oder „abgewichen“ wählen."), field="status") from None
    why: DeviationCause | None = None
    if state is FollowUpStatus.DEVIATED:
        try:
            why = DeviationCause(cause or "")
        except ValueError:
            raise InvalidInput(
                N_("Bei einer Abweichung bitte den Grund wählen (medizinisch, Patientenwunsch, unbekannt)."),
                field="cause",
            ) from None
    entry = RecommendationFollowUp(
        case_id=case.id,
        status=state,
        cause=why,
        note=_text(note, field="note")[:5000],
        recorded_at=at,
        recorded_by_id=user.id,
    )
    session.add(entry)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.PROTOCOL_FOLLOWUP_RECORD,
        subject_type=SubjectType.CASE,
        subject_id=case.id,
        at=at,
        after={"status": state.value, "cause": why.value if why else None},
    )
    return entry


def representation_proposals(session: Session, cs: ConferenceSession) -> list[Recommendation]:
    """Recommendations asking for re-presentation that are due at ``cs``: same board (or the requested board),
    date reached, recorded at an earlier session, and the patient not yet registered again since."""
    out: list[Recommendation] = []
    day = cs.local_start.date()
    candidates = session.scalars(
        select(Recommendation)
        .join(ConferenceSession, Recommendation.session_id == ConferenceSession.id)
        .where(Recommendation.representation_wanted.is_(True), ConferenceSession.starts_at < cs.starts_at)
        .order_by(Recommendation.recorded_at)
    ).all()
    current: dict[int, Recommendation] = {}
    for rec in candidates:
        current[rec.case_id] = rec if rec.revision >= current.get(rec.case_id, rec).revision else current[rec.case_id]
    for rec in current.values():
        if (rec.representation_board_id or rec.case.board_id) != cs.board_id:
            continue
        if rec.representation_date is not None and rec.representation_date > day:
            continue
        again = session.scalar(
            select(Case.id)
            .join(ConferenceSession, Case.session_id == ConferenceSession.id)
            .where(
                Case.patient_id == rec.case.patient_id,
                Case.id != rec.case_id,
                ConferenceSession.starts_at > rec.session.starts_at,
            )
            .limit(1)
        )
        if again is None:
            out.append(rec)
    return out
