"""The electronic report of each attendance to the chamber (EIV, issue 15): queued after the protocol is signed,
pushed by the scheduler (``cme.push_eiv``), the result kept per attendee, a correction pushed again or withdrawn,
and a reconciliation against what the chambers hold. Deadlines: 8 days to report, then 7 days to correct.

The chamber's API is idempotent per (EFN, VNR): pushing a row again after a crash (pushed, not yet committed) does
no harm, so the job may simply try again."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.attendance.models import Attendance
from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.clock import BERLIN
from tumorboard.cme.eiv import EivAuthError, EivClient, EivUnavailable
from tumorboard.cme.models import CmeAccreditation, EivState, EivSubmission
from tumorboard.cme.services import CORRECTION_DAYS, REPORT_DAYS, accreditation_for, deadlines
from tumorboard.conferences.models import ConferenceSession
from tumorboard.errors import Conflict, InvalidInput
from tumorboard.i18n import N_
from tumorboard.protocol.models import ProtocolVersion

log = logging.getLogger(__name__)

#: The longest wait between two attempts after a 500/429/no connection (doubling from 1 minute).
MAX_BACKOFF = dt.timedelta(hours=6)

MESSAGES = {
    200: N_("gespeichert"),
    406: N_("abgelehnt (VNR unbekannt oder gesperrt, Datum außerhalb des akkreditierten Zeitraums)"),
    422: N_("fehlerhaft (EFN-Prüfziffer oder Wertebereich) – bitte die EFN prüfen"),
}
RETRY_MESSAGE = N_("Dienst nicht erreichbar oder überlastet – neuer Versuch folgt")
AUTH_MESSAGE = N_("Anmeldung an der EIV abgelehnt (VNR oder Passwort falsch)")
NO_PASSWORD_MESSAGE = N_("Kein Passwort für diese VNR in der Passwortdatei")
WITHDRAWN_MESSAGE = N_("zurückgezogen")


def _signed_sessions(session: Session, since: dt.datetime) -> Sequence[ConferenceSession]:
    signed = select(ProtocolVersion.session_id).distinct()
    return session.scalars(
        select(ConferenceSession)
        .where(ConferenceSession.id.in_(signed), ConferenceSession.starts_at >= since)
        .order_by(ConferenceSession.starts_at)
    ).all()


def enqueue_signed(session: Session, *, at: dt.datetime) -> list[EivSubmission]:
    """A pending report for every attendee with an EFN of every signed session with a VNR whose correction window
    is still open; idempotent (one row per attendance)."""
    since = at - dt.timedelta(days=REPORT_DAYS + CORRECTION_DAYS + 1)
    created: list[EivSubmission] = []
    for cs in _signed_sessions(session, since):
        accreditation = accreditation_for(session, cs)
        if accreditation is None or not accreditation.vnr:
            continue
        if at.astimezone(BERLIN).date() > deadlines(cs).correct_by:
            continue
        # one report per EFN: a physician who left and came back has two attendance rows (issue 13)
        known = set(session.scalars(select(EivSubmission.efn).where(EivSubmission.session_id == cs.id)))
        for row in session.scalars(select(Attendance).where(Attendance.session_id == cs.id).order_by(Attendance.id)):
            if row.efn and row.efn not in known:
                known.add(row.efn)
                sub = EivSubmission(
                    session_id=cs.id, attendance_id=row.id, efn=row.efn, vnr=accreditation.vnr, credited=True,
                    state=EivState.PENDING, attempts=0, message="", created_at=at, updated_at=at,
                )  # fmt: skip
                session.add(sub)
                created.append(sub)
    session.flush()
    return created


def correct_cme_attendance(
    session: Session, attendance: Attendance, *, credited: bool, reason: str | None, at: dt.datetime, actor: Actor
) -> EivSubmission:
    """An attendance correction for the chamber (e.g. left after a few minutes, or was not there): the report is
    withdrawn (``credited=False``) or pushed again (``True``) by the next run. Only within the correction window."""
    text = " ".join((reason or "").split())
    if len(text) < 3:
        raise InvalidInput(N_("Bitte den Grund der Korrektur angeben."), field="reason")
    sub = session.scalar(select(EivSubmission).where(EivSubmission.attendance_id == attendance.id))
    if sub is None:
        raise Conflict(N_("Für diese Teilnahme gibt es noch keine Meldung an die Ärztekammer."))
    if at.astimezone(BERLIN).date() > deadlines(attendance.session).correct_by:
        raise Conflict(N_("Das Korrekturfenster der Ärztekammer ist geschlossen (7 Tage nach der Meldefrist)."))
    before = {"credited": sub.credited, "state": sub.state.value}
    sub.credited = credited
    sub.correction_reason = text[:1000]
    sub.state = EivState.PENDING
    sub.next_attempt_at = None
    sub.updated_at = at
    session.flush()
    record_event(
        session, actor=actor, tag=Tag.CME_ATTENDANCE_CORRECT, subject_type=SubjectType.ATTENDANCE,
        subject_id=attendance.id, at=at, before=before, after={"credited": credited}, reason=text[:1000],
    )  # fmt: skip
    return sub


def _retry(sub: EivSubmission, at: dt.datetime, status: int | None, message: str) -> None:
    sub.state = EivState.PENDING
    sub.http_status = status
    wait = min(dt.timedelta(minutes=2 ** min(sub.attempts - 1, 10)), MAX_BACKOFF)
    sub.next_attempt_at = at + wait
    sub.message = message


def push_pending(
    session: Session,
    client: EivClient,
    passwords: dict[str, str],
    *,
    at: dt.datetime,
    actor: Actor,
    limit: int = 20,
) -> list[EivSubmission]:
    """Push up to ``limit`` pending reports that are due, one token per VNR. 200 stored (or withdrawn), 406
    refused, 422 malformed; 500, 429 or no answer: pending, tried again after a doubling wait. Returns the rows
    tried. The job calls it in short transactions (SQLite holds its write lock while the requests run)."""
    due = session.scalars(
        select(EivSubmission)
        .where(EivSubmission.state == EivState.PENDING)
        .where((EivSubmission.next_attempt_at.is_(None)) | (EivSubmission.next_attempt_at <= at))
        .order_by(EivSubmission.vnr, EivSubmission.id)
        .limit(limit)
    ).all()
    tokens: dict[str, str | None] = {}
    for sub in due:
        sub.attempts += 1
        sub.last_attempt_at = sub.updated_at = at
        if sub.vnr not in tokens:
            password = passwords.get(sub.vnr)
            if password is None:
                tokens[sub.vnr] = None
            else:
                try:
                    tokens[sub.vnr] = client.token(sub.vnr, password)
                except EivAuthError:
                    tokens[sub.vnr] = None
                except EivUnavailable as err:
                    _retry(sub, at, err.status, RETRY_MESSAGE)
                    continue
        token = tokens[sub.vnr]
        if token is None:
            _retry(sub, at, 401 if sub.vnr in passwords else None,
                   AUTH_MESSAGE if sub.vnr in passwords else NO_PASSWORD_MESSAGE)  # fmt: skip
            continue
        day = sub.attendance.session.local_start.date().isoformat()
        try:
            answer = client.push(token, efn=sub.efn, day=day, credited=sub.credited)
        except EivUnavailable as err:
            _retry(sub, at, err.status, RETRY_MESSAGE)
            continue
        sub.http_status = answer.status
        sub.next_attempt_at = None
        if answer.status == 200:
            sub.state = EivState.STORED if sub.credited else EivState.WITHDRAWN
            sub.message = MESSAGES[200] if sub.credited else WITHDRAWN_MESSAGE
        elif answer.status == 406:
            sub.state, sub.message = EivState.REFUSED, MESSAGES[406]
        elif answer.status == 422:
            sub.state, sub.message = EivState.MALFORMED, MESSAGES[422]
        else:  # an answer the contract does not name: keep it pending and let a person look
            _retry(sub, at, answer.status, RETRY_MESSAGE)
            continue
        record_event(
            session, actor=actor, tag=Tag.CME_EIV_PUSH, subject_type=SubjectType.ATTENDANCE,
            subject_id=sub.attendance_id, at=at,
            after={"status": answer.status, "state": sub.state.value, "credited": sub.credited},
        )  # fmt: skip
    session.flush()
    log.info("eiv: %s reports tried", len(due))
    return list(due)


@dataclass(frozen=True)
class Difference:
    attendance_id: int | None
    efn: str
    #: What we recorded and what the chamber holds ("gespeichert" / "zurückgezogen" / "fehlt").
    ours: str
    theirs: str


def reconcile(
    session: Session, client: EivClient, passwords: dict[str, str], cs: ConferenceSession
) -> list[Difference]:
    """Compare our reports of ``cs`` with what the chambers hold for its VNR; the differences (empty: in step)."""
    accreditation = accreditation_for(session, cs)
    if accreditation is None or not accreditation.vnr or accreditation.vnr not in passwords:
        raise Conflict(N_("Für diese Sitzung ist keine VNR mit Passwort eingerichtet."))
    token = client.token(accreditation.vnr, passwords[accreditation.vnr])
    held = {str(r.get("efn")): bool(r.get("punkte_basis_flag")) for r in client.held(token)}
    ours = {
        s.efn: s
        for s in session.scalars(select(EivSubmission).where(EivSubmission.session_id == cs.id))
        if s.state in (EivState.STORED, EivState.WITHDRAWN)
    }
    out: list[Difference] = []
    for efn, sub in sorted(ours.items()):
        want = sub.state is EivState.STORED
        if efn not in held and want:
            out.append(Difference(sub.attendance_id, efn, N_("gespeichert"), N_("fehlt")))
        elif efn in held and held[efn] != want:
            out.append(Difference(sub.attendance_id, efn, N_("gespeichert") if want else N_("zurückgezogen"),
                                  N_("gespeichert") if held[efn] else N_("zurückgezogen")))  # fmt: skip
    for efn, flag in sorted(held.items()):
        if efn not in ours and flag:
            out.append(Difference(None, efn, N_("fehlt"), N_("gespeichert")))
    return out


class DeadlineState:
    DONE = N_("gemeldet")
    OPEN = N_("offen")
    LATE = N_("Meldefrist überschritten")
    PROBLEM = N_("Rückfrage nötig (abgelehnt oder fehlerhaft)")


@dataclass(frozen=True)
class SessionDeadline:
    cs: ConferenceSession
    vnr: str
    report_by: dt.date
    correct_by: dt.date
    counts: dict[str, int]
    state: str


def deadline_overview(session: Session, *, now: dt.datetime) -> list[SessionDeadline]:
    """Sessions with a VNR whose correction window is still open (or that ended in the last 15 days): the
    reports' states, the 8-day deadline and the 7-day correction window, for the QM dashboard."""
    today = now.astimezone(BERLIN).date()
    since = now - dt.timedelta(days=REPORT_DAYS + CORRECTION_DAYS + 1)
    sessions = session.scalars(
        select(ConferenceSession)
        .where(ConferenceSession.starts_at >= since, ConferenceSession.starts_at <= now)
        .where(
            ConferenceSession.id.in_(select(CmeAccreditation.session_id).where(CmeAccreditation.vnr.is_not(None)))
            | ConferenceSession.board_id.in_(select(CmeAccreditation.board_id).where(CmeAccreditation.vnr.is_not(None)))
        )
        .order_by(ConferenceSession.starts_at)
    ).all()
    out: list[SessionDeadline] = []
    for cs in sessions:
        accreditation = accreditation_for(session, cs)
        if accreditation is None or not accreditation.vnr:
            continue
        limits = deadlines(cs)
        if today > limits.correct_by:
            continue
        counts = {state.value: 0 for state in EivState}
        for sub in session.scalars(select(EivSubmission).where(EivSubmission.session_id == cs.id)):
            counts[sub.state.value] += 1
        with_efn = len([a for a in session.scalars(select(Attendance.efn).where(Attendance.session_id == cs.id)) if a])
        if counts["refused"] or counts["malformed"]:
            state = DeadlineState.PROBLEM
        elif with_efn and counts["stored"] + counts["withdrawn"] == with_efn:
            state = DeadlineState.DONE
        elif today > limits.report_by:
            state = DeadlineState.LATE
        else:
            state = DeadlineState.OPEN
        out.append(SessionDeadline(cs, accreditation.vnr, limits.report_by, limits.correct_by, counts, state))
    return out
