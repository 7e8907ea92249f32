"""The agenda (Tagesordnung) of a session, and its frozen versions.

At the registration deadline a scheduler job freezes the case list as version 1. Every later change of that case
list (a case added, moved in or out, withdrawn, reordered) makes a new version; cases added, moved and withdrawn
since the previous version are marked in it. Versions are stored as snapshots of what was printed, so an old
version renders exactly as it was sent out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.cases import checklist
from tumorboard.cases.models import ACTIVE_STATUSES, AgendaVersion, Case, CaseStatus
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import ConferenceSession, SessionStatus


class AgendaChange(enum.StrEnum):
    """How an entry changed since the previous version; stored by value in the snapshot, printed as a mark."""

    ADDED = "added"  #: newly registered since the previous version
    MOVED_IN = "moved_in"  #: registered earlier for another session, moved here
    MOVED_OUT = "moved_out"  #: moved to another session (kept, struck through, with the target as note)
    WITHDRAWN = "withdrawn"  #: withdrawn (kept, struck through, with the reason as note)
    EDITED = "edited"  #: on the list before, its registration edited since (issue 13)

    @property
    def gone(self) -> bool:
        """No longer on this list: printed struck through, without previews."""
        return self in (AgendaChange.MOVED_OUT, AgendaChange.WITHDRAWN)


@dataclass(frozen=True)
class AgendaEntry:
    case_id: int
    number: int | None  #: place on the list; None for cases no longer on it (moved out, withdrawn)
    patient_name: str  #: "Family, Given"
    birth_date: str  #: ISO date
    icd10: str
    icd10_text: str
    conference_type: str
    question: str
    presenter: str
    late: bool
    change: AgendaChange | None  #: None: unchanged since the previous version (or the first version)
    note: str  #: e.g. the target session of a moved-out case
    #: Issue 13 (absent from versions frozen before; the defaults read them): TNM as registered, ECOG 0–5, and the
    #: board's checklist items not done when the version was made (imaging has its own column, so not here).
    tnm: str = ""
    ecog: int | None = None
    missing: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Agenda:
    session: ConferenceSession
    version: int | None  #: None: not frozen yet (draft before the deadline)
    as_of: dt.datetime
    entries: list[AgendaEntry]


def _entry(case: Case, number: int | None, change: AgendaChange | None = None, note: str = "") -> AgendaEntry:
    return AgendaEntry(
        case_id=case.id,
        number=number,
        patient_name=f"{case.patient.family_name}, {case.patient.given_name}",
        birth_date=case.patient.birth_date.isoformat(),
        icd10=case.icd10_code,
        icd10_text=case.icd10_text,
        conference_type=case.conference_type.value,
        question=case.question,
        presenter=case.presenter.display_name if case.presenter else "",
        late=case.is_late,
        change=change,
        note=note,
        tnm=case.tnm or "",
        ecog=case.ecog,
        missing=_missing(case),
    )


def _missing(case: Case) -> tuple[str, ...]:
    """The board's checklist items a case has not done yet, imaging left out (the agenda has a column for it)."""
    session = object_session(case)
    if session is None:
        return ()
    results = checklist.evaluate(case, checklist.items_of(session, case.board), None)
    return tuple(r.label for r in results if not r.done and r.rule is not checklist.ChecklistRule.IMAGING)


def _live_cases(session: Session, cs: ConferenceSession) -> Sequence[Case]:
    return session.scalars(
        select(Case)
        .where(
            Case.session_id == cs.id,
            Case.status.in_(ACTIVE_STATUSES),
        )
        .order_by(Case.position, Case.id)
    ).all()


def latest_version(session: Session, cs: ConferenceSession) -> AgendaVersion | None:
    return session.scalars(
        select(AgendaVersion).where(AgendaVersion.session_id == cs.id).order_by(AgendaVersion.version.desc())
    ).first()


def versions(session: Session, cs: ConferenceSession) -> Sequence[AgendaVersion]:
    return session.scalars(
        select(AgendaVersion).where(AgendaVersion.session_id == cs.id).order_by(AgendaVersion.version)
    ).all()


#: What an edit of a case changes on the printed agenda (versions frozen before issue 13 lack the last three).
_EDIT_KEYS = ("icd10", "icd10_text", "conference_type", "question", "tnm", "ecog")


def _edited(before: dict[str, Any], entry: AgendaEntry) -> bool:
    now = entry.as_dict()
    return any(before.get(k, now[k]) != now[k] for k in _EDIT_KEYS)


def _comparable(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    keys = ("case_id", "number", "patient_name", "icd10", "question", "presenter", "late")
    return [tuple(e[k] for k in keys) for e in entries if e["number"] is not None]


def _store(
    session: Session, cs: ConferenceSession, entries: list[AgendaEntry], *, version: int, at: dt.datetime, actor: Actor
) -> AgendaVersion:
    row = AgendaVersion(
        session_id=cs.id,
        version=version,
        created_at=at,
        created_by=actor.label,
        snapshot={"entries": [e.as_dict() for e in entries]},
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CASE_AGENDA_VERSION,
        subject_type=SubjectType.SESSION,
        subject_id=cs.id,
        at=at,
        after={"version": version, "cases": len([e for e in entries if e.number is not None])},
    )
    return row


def freeze_agenda(session: Session, cs: ConferenceSession, *, at: dt.datetime, actor: Actor) -> AgendaVersion | None:
    """Version 1 at the deadline (idempotent: nothing happens if a version exists)."""
    if latest_version(session, cs) is not None:
        return None
    entries = [_entry(c, n) for n, c in enumerate(_live_cases(session, cs), start=1)]
    return _store(session, cs, entries, version=1, at=at, actor=actor)


def refresh_agenda(session: Session, cs: ConferenceSession, *, at: dt.datetime, actor: Actor) -> AgendaVersion | None:
    """After a change of a frozen session's case list: a new version with the differences marked."""
    previous = latest_version(session, cs)
    if previous is None:
        return None
    session.flush()
    live = _live_cases(session, cs)
    before: list[dict[str, Any]] = [e for e in previous.snapshot["entries"] if e["number"] is not None]
    before_ids = {e["case_id"] for e in before}
    entries: list[AgendaEntry] = []
    before_by_id = {e["case_id"]: e for e in before}
    for n, case in enumerate(live, start=1):
        change = None
        if case.id not in before_ids:
            change = AgendaChange.MOVED_IN if case.registered_at <= previous.created_at else AgendaChange.ADDED
        entry = _entry(case, n, change)
        if change is None and _edited(before_by_id[case.id], entry):
            entry = dataclasses.replace(entry, change=AgendaChange.EDITED)
        entries.append(entry)
    live_ids = {c.id for c in live}
    for gone in before:
        if gone["case_id"] in live_ids:
            continue
        left = session.get(Case, gone["case_id"])
        if left is None:
            continue
        if left.status is CaseStatus.WITHDRAWN:
            entries.append(_entry(left, None, AgendaChange.WITHDRAWN, left.withdraw_reason or ""))
        else:
            target = left.session.local_start.strftime("%d.%m.%Y %H:%M")
            entries.append(_entry(left, None, AgendaChange.MOVED_OUT, f"{left.board.short_name} {target}"))
    edited = any(e.change is AgendaChange.EDITED for e in entries)
    if not edited and _comparable([e.as_dict() for e in entries]) == _comparable(before):
        return None
    return _store(session, cs, entries, version=previous.version + 1, at=at, actor=actor)


def current_agenda(session: Session, cs: ConferenceSession, *, at: dt.datetime) -> Agenda:
    """The newest frozen version, or the live draft before the deadline."""
    latest = latest_version(session, cs)
    if latest is None:
        entries = [_entry(c, n) for n, c in enumerate(_live_cases(session, cs), start=1)]
        return Agenda(session=cs, version=None, as_of=at, entries=entries)
    return agenda_version(cs, latest)


def agenda_version(cs: ConferenceSession, row: AgendaVersion) -> Agenda:
    entries = [
        AgendaEntry(
            **{
                **e,
                "change": AgendaChange(e["change"]) if e["change"] else None,
                "missing": tuple(e.get("missing", ())),
            }
        )
        for e in row.snapshot["entries"]
    ]
    return Agenda(session=cs, version=row.version, as_of=row.created_at, entries=entries)


def freeze_due_agendas(session: Session, *, at: dt.datetime, actor: Actor, lookback_days: int = 14) -> int:
    """Scheduler job body: freeze every planned session whose deadline has passed and that has no version yet."""
    today = at.astimezone(BERLIN).date()
    start, end = conf.day_range(today - dt.timedelta(days=lookback_days), today + dt.timedelta(days=30))
    frozen = 0
    for cs in conf.sessions_between(session, start, end):
        if (
            cs.status is SessionStatus.PLANNED
            and conf.registration_deadline(cs) <= at
            and freeze_agenda(session, cs, at=at, actor=actor) is not None
        ):
            frozen += 1
    return frozen
