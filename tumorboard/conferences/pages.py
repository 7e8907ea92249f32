"""The start page's worklist (issue 13), per role: a page part, not a route.

Coordinators see every session of the next two weeks with its case count, the registration deadline as a countdown
and per case what is still missing, the triage inbox, and past sessions without a signed protocol. Physicians see
their cases and the next sessions of their boards; QM the outcome of the last quarter. The lists show case numbers
and diagnoses, no patient names (the case page, which logs the access, has them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from tumorboard.access.services import board_ids_of
from tumorboard.auth.models import Role, User
from tumorboard.cases import checklist
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.cases.services import cases_of_physician, session_cases
from tumorboard.clock import BERLIN
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import ConferenceSession
from tumorboard.conferences.outcome import SessionOutcome
from tumorboard.i18n import N_
from tumorboard.imaging.matching import triage_inbox
from tumorboard.imaging.summaries import imaging_complete, imaging_summaries
from tumorboard.qm.services import session_outcomes

#: How far the coordinator's worklist looks ahead, and how far back for protocols still to be signed.
AHEAD = dt.timedelta(days=14)
BEHIND = dt.timedelta(weeks=8)
QM_PERIOD = dt.timedelta(days=91)


@dataclass(frozen=True)
class Countdown:
    """Time left until a deadline; ``passed`` once it is over."""

    days: int
    hours: int
    minutes: int
    passed: bool


def countdown(deadline: dt.datetime, at: dt.datetime) -> Countdown:
    left = deadline - at
    if left <= dt.timedelta(0):
        return Countdown(0, 0, 0, True)
    minutes = int(left.total_seconds() // 60)
    return Countdown(minutes // (24 * 60), minutes % (24 * 60) // 60, minutes % 60, False)


@dataclass
class CaseWork:
    case: Case
    number: int
    #: Labels of what is missing: the board's open checklist items, and "Vorstellung" without a presenter.
    missing: list[str]


@dataclass
class SessionWork:
    cs: ConferenceSession
    deadline: dt.datetime
    countdown: Countdown
    cases: list[CaseWork] = field(default_factory=list)

    @property
    def incomplete(self) -> int:
        return sum(1 for c in self.cases if c.missing)


#: The label used when a case has nobody to present it (translated in the template, like the checklist labels).
NO_PRESENTER = N_("Vorstellende Person")


def coordinator_worklist(session: Session, *, at: dt.datetime) -> dict[str, Any]:
    today = at.astimezone(BERLIN).date()
    start, _ = conf.day_range(today, today)
    upcoming = [cs for cs in conf.sessions_between(session, start, at + AHEAD) if cs.takes_place and cs.ends_at > at]
    work: list[SessionWork] = []
    for cs in upcoming:
        rows = list(session_cases(session, cs))
        imaging = imaging_summaries(session, [c.id for c in rows])
        items = checklist.items_of(session, cs.board)
        deadline = conf.registration_deadline(cs)
        entry = SessionWork(cs, deadline, countdown(deadline, at))
        for number, case in enumerate(rows, start=1):
            if case.status is CaseStatus.DISCUSSED:
                continue
            results = checklist.evaluate(case, items, imaging_complete(imaging.get(case.id)))
            missing = [r.label for r in results if not r.done]
            if case.presenter_id is None:
                missing.append(NO_PRESENTER)
            entry.cases.append(CaseWork(case, number, missing))
        work.append(entry)
    past = [cs for cs in conf.sessions_between(session, at - BEHIND, at) if cs.takes_place and cs.ends_at <= at]
    outcomes = session_outcomes(session, past, now=at)
    unsigned = [
        cs for cs in reversed(past) if outcomes[cs.id].kind is not SessionOutcome.SIGNED and session_cases(session, cs)
    ]
    return {"sessions": work, "inbox": len(triage_inbox(session)), "unsigned": unsigned}


def physician_worklist(session: Session, user: User, *, at: dt.datetime) -> dict[str, Any]:
    boards = board_ids_of(session, user)
    today = at.astimezone(BERLIN).date()
    start, _ = conf.day_range(today, today)
    upcoming = [
        cs
        for cs in conf.sessions_between(session, start, at + AHEAD)
        if cs.board_id in boards and cs.takes_place and cs.ends_at > at
    ]
    return {"my_cases": list(cases_of_physician(session, user, at)), "my_sessions": upcoming}


def qm_overview(session: Session, *, at: dt.datetime) -> dict[str, Any]:
    past = [cs for cs in conf.sessions_between(session, at - QM_PERIOD, at) if cs.ends_at <= at]
    outcomes = session_outcomes(session, past, now=at)
    counts: dict[SessionOutcome, int] = {}
    for outcome in outcomes.values():
        counts[outcome.kind] = counts.get(outcome.kind, 0) + 1
    return {"period_start": (at - QM_PERIOD), "period_counts": counts, "period_total": len(past)}


def worklist(session: Session, user: User, *, at: dt.datetime) -> dict[str, Any]:
    """The worklist context for ``user``'s role (empty for roles without one)."""
    if user.role is Role.COORDINATOR:
        return {"worklist": "coordinator", **coordinator_worklist(session, at=at)}
    if user.role is Role.PHYSICIAN:
        return {"worklist": "physician", **physician_worklist(session, user, at=at)}
    if user.role is Role.QM:
        return {"worklist": "qm", **qm_overview(session, at=at)}
    return {"worklist": None}
