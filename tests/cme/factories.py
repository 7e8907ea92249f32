"""A held CME session: five physicians checked in, three with an EFN and two without (issue 15)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tests.cases.factories import upcoming_sessions
from tests.factories import make_board, make_user
from tumorboard.attendance.models import Attendance, AttendanceMode
from tumorboard.auth.services import luhn_valid
from tumorboard.conferences.models import ConferenceSession

#: A VNR that passes the Luhn check (19 digits, 276…).
VNR = "2761234567890123459"


def efn(n: int) -> str:
    """A valid EFN (80 physician, 276 Germany, chamber 1, running number, Luhn check digit)."""
    base = f"802761{n:08d}"
    return next(base + str(d) for d in range(10) if luhn_valid(base + str(d)))


@dataclass
class CmeSession:
    cs: ConferenceSession
    rows: list[Attendance]


def held_session(session: Session, at: dt.datetime) -> CmeSession:
    board = make_board(session, at, room="Demo-Raum 2")
    cs = upcoming_sessions(session, board, at)[0]
    clerk = make_user(session, at)
    people = [
        ("Dr. Anna Efnfrei", "Pathologie", None),
        ("Dr. Bernd Berg", "Radiologie", efn(1)),
        ("Dr. Clara Chirurg", "Viszeralchirurgie", efn(2)),
        ("Dr. Dora Ohnenummer", "Strahlentherapie", None),
        ("Dr. Emil Onko", "Hämatologie/Onkologie", efn(3)),
    ]
    rows = []
    for n, (name, discipline, number) in enumerate(people):
        user = make_user(session, at, "physician", discipline=discipline, **({"efn": number} if number else {}))
        row = Attendance(
            session_id=cs.id, user_id=user.id, name=name, institution="", discipline=discipline, efn=number,
            mode=AttendanceMode.VIDEO if n == 4 else AttendanceMode.IN_PERSON, arrived_at=cs.starts_at,
            left_at=None, recorded_by_id=clerk.id, created_at=cs.starts_at,
        )  # fmt: skip
        session.add(row)
        rows.append(row)
    session.flush()
    return CmeSession(cs, rows)
