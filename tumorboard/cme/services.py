"""CME accreditation per board (defaults) and session (VNR), the chamber's report of a session and its deadlines
(issue 15). Rules from ../shared/domain/qm.md: VNR 19 digits starting 276 (a failed Luhn check is a warning until
confirmed), report at the latest 8 days after the event, then a 7-day correction window."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.access.models import BoardRole
from tumorboard.access.services import members_of
from tumorboard.attendance.models import Attendance
from tumorboard.attendance.services import list_attendance
from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.auth.models import User
from tumorboard.auth.services import luhn_valid
from tumorboard.cme.models import CmeAccreditation
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.errors import Conflict, InvalidInput
from tumorboard.i18n import N_

#: Categories of the chambers' CME catalogue (tumor boards: usually C, case conference).
CATEGORIES = ("A", "B", "C", "D", "E", "F", "G", "H", "I", "K")
#: Westfalen-Lippe: report within 8 days after the event; corrections during the 7 days after that.
REPORT_DAYS = 8
CORRECTION_DAYS = 7
#: The chamber's sentence on every certificate (qm.md), with points and category filled in.
CHAMBER_SENTENCE = N_(
    "Die Veranstaltung ist im Rahmen der Zertifizierung der ärztlichen Fortbildung der Ärztekammer "
    "Westfalen-Lippe mit %(points)s Punkten (Kategorie %(category)s) anrechenbar."
)
VNR_CHECK_WARNING = N_(
    "Die Prüfziffer der VNR stimmt nicht – bitte mit dem Akkreditierungsbescheid vergleichen (gespeichert)."
)


def check_vnr(vnr: str | None) -> tuple[str | None, list[str]]:
    """``(None, [])`` for no VNR; else the 19 digits (spaces dropped) and the warnings (a failed check digit).
    Wrong length or prefix is refused with a German message."""
    clean = (vnr or "").replace(" ", "")
    if not clean:
        return None, []
    if not re.fullmatch(r"[0-9]{19}", clean):
        raise InvalidInput(
            N_("Die VNR muss aus genau 19 Ziffern bestehen (eingegeben: %(n)s Zeichen)."), field="vnr", n=len(clean)
        )
    if not clean.startswith("276"):
        raise InvalidInput(N_("Eine VNR beginnt mit 276 (Deutschland)."), field="vnr")
    return clean, [] if luhn_valid(clean) else [VNR_CHECK_WARNING]


@dataclass(frozen=True)
class Accreditation:
    """The accreditation in force for a session: its own row, else its board's defaults."""

    vnr: str | None
    category: str
    points: int
    valid_from: dt.date | None
    valid_to: dt.date | None
    #: "session" or "board": where it comes from.
    source: str


def set_accreditation(
    session: Session,
    *,
    board: Board | None = None,
    cs: ConferenceSession | None = None,
    vnr: str | None,
    category: str,
    points: int,
    valid_from: dt.date | None,
    valid_to: dt.date | None,
    user: User | None,
    at: dt.datetime,
    actor: Actor,
) -> tuple[CmeAccreditation, list[str]]:
    """Store the accreditation letter's data for a board (defaults) or one session. Everything is checked before
    anything changes; returns the row and the warnings (a VNR whose check digit fails is kept, with a warning)."""
    if (board is None) == (cs is None):
        raise InvalidInput(N_("Bitte entweder eine Konferenz oder eine Sitzung angeben."), field="board")
    clean, warnings = check_vnr(vnr)
    category = (category or "").strip().upper()
    if category not in CATEGORIES:
        raise InvalidInput(
            N_("Unbekannte Kategorie „%(value)s“ (erlaubt: A–K, ohne J)."), field="category", value=category[:5]
        )
    if not 0 <= points <= 99:
        raise InvalidInput(N_("Die Punktzahl liegt zwischen 0 und 99."), field="points")
    if valid_from and valid_to and valid_to < valid_from:
        raise InvalidInput(N_("Das Ende des akkreditierten Zeitraums liegt vor seinem Anfang."), field="valid_to")
    if cs is not None:
        day = cs.local_start.date()
        if (valid_from and day < valid_from) or (valid_to and day > valid_to):
            raise InvalidInput(N_("Die Sitzung liegt außerhalb des akkreditierten Zeitraums."), field="valid_from")
    if cs is not None:
        row = session.scalar(select(CmeAccreditation).where(CmeAccreditation.session_id == cs.id))
    else:
        assert board is not None
        row = session.scalar(select(CmeAccreditation).where(CmeAccreditation.board_id == board.id))
    before = None
    if row is None:
        row = CmeAccreditation(board_id=board.id if board else None, session_id=cs.id if cs else None)
        session.add(row)
    else:
        before = {"vnr": row.vnr, "category": row.category, "points": row.points}
    row.vnr, row.category, row.points = clean, category, points
    row.valid_from, row.valid_to = valid_from, valid_to
    row.updated_at, row.updated_by_id = at, user.id if user else None
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.CME_ACCREDITATION_SET,
        subject_type=SubjectType.SESSION if cs is not None else SubjectType.BOARD,
        subject_id=cs.id if cs is not None else board.id,  # type: ignore[union-attr]
        at=at,
        before=before,
        after={"vnr": clean, "category": category, "points": points, "warnings": len(warnings)},
    )
    return row, warnings


def accreditation_for(session: Session, cs: ConferenceSession) -> Accreditation | None:
    """The session's own accreditation, else its board's defaults, else None."""
    own = session.scalar(select(CmeAccreditation).where(CmeAccreditation.session_id == cs.id))
    row = own or session.scalar(select(CmeAccreditation).where(CmeAccreditation.board_id == cs.board_id))
    if row is None:
        return None
    return Accreditation(
        vnr=row.vnr,
        category=row.category,
        points=row.points,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        source="session" if own else "board",
    )


@dataclass(frozen=True)
class Deadlines:
    #: The last day of the 8-day report window and of the correction window after it (Berlin dates).
    report_by: dt.date
    correct_by: dt.date


def deadlines(cs: ConferenceSession) -> Deadlines:
    day = cs.local_start.date()
    report_by = day + dt.timedelta(days=REPORT_DAYS)
    return Deadlines(report_by=report_by, correct_by=report_by + dt.timedelta(days=CORRECTION_DAYS))


@dataclass(frozen=True)
class CmeReport:
    cs: ConferenceSession
    accreditation: Accreditation
    #: Attendees with an EFN: the chamber's CSV and the electronic report.
    with_efn: Sequence[Attendance]
    #: Attendees without an EFN: they need a paper certificate (listed for the organiser).
    without_efn: Sequence[Attendance]
    deadlines: Deadlines
    #: The scientific lead who signs the certificates (the board's moderator), "" when none is set.
    lead: str

    @property
    def vnr(self) -> str:
        return self.accreditation.vnr or ""


def once_per_person(rows: Sequence[Attendance]) -> list[Attendance]:
    """The first row of each person (by account, else by EFN, else by name): someone who left and came back has
    two attendance rows (issue 13) but attended the session once, and the chamber counts one attendance per EFN
    and VNR."""
    seen: set[tuple[str, object]] = set()
    out: list[Attendance] = []
    for row in rows:
        key = ("user", row.user_id) if row.user_id is not None else ("efn", row.efn) if row.efn else ("name", row.name)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def cme_report(session: Session, cs: ConferenceSession) -> CmeReport:
    """The CME report of a session: who attended with and without EFN, under which accreditation. A session
    without an accreditation carrying a VNR cannot be reported (Conflict with a German message)."""
    accreditation = accreditation_for(session, cs)
    if accreditation is None or not accreditation.vnr:
        raise Conflict(N_("Für diese Sitzung ist keine VNR hinterlegt (CME-Akkreditierung fehlt)."))
    rows = once_per_person(list_attendance(session, cs))
    lead = next((m.user.display_name for m in members_of(session, cs.board) if m.role is BoardRole.MODERATOR), "")
    return CmeReport(
        cs=cs,
        accreditation=accreditation,
        with_efn=[a for a in rows if a.efn],
        without_efn=[a for a in rows if not a.efn],
        deadlines=deadlines(cs),
        lead=lead,
    )
