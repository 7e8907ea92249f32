"""Read-only figures for quality management. Nothing here changes the record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tumorboard.attendance.models import Attendance
from tumorboard.conferences.models import ConferenceSession
from tumorboard.conferences.outcome import Outcome, derive_outcome
from tumorboard.protocol.models import ProtocolVersion


def session_outcomes(
    session: Session, sessions: Sequence[ConferenceSession], *, now: dt.datetime
) -> dict[int, Outcome]:
    """The outcome of each session by id, from two grouped queries (attendance recorded; first signature)
    however many sessions are asked for."""
    ids = [cs.id for cs in sessions]
    attended: set[int] = set()
    signed: dict[int, dt.datetime] = {}
    for chunk_start in range(0, len(ids), 500):  # stay below SQLite's bound-parameter limit
        chunk = ids[chunk_start : chunk_start + 500]
        attended.update(
            session.scalars(select(Attendance.session_id).where(Attendance.session_id.in_(chunk)).distinct())
        )
        for session_id, first_signed in session.execute(
            select(ProtocolVersion.session_id, func.min(ProtocolVersion.signed_at))
            .where(ProtocolVersion.session_id.in_(chunk))
            .group_by(ProtocolVersion.session_id)
        ):
            signed[session_id] = first_signed
    return {
        cs.id: derive_outcome(cs, now=now, attended=cs.id in attended, signed_at=signed.get(cs.id)) for cs in sessions
    }
