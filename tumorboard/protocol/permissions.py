"""Who signs and amends a protocol, who reads it (issue 10).

Only the board's moderator or a deputy who is checked in to the session signs it and signs amendments (with a
reason); the services refuse everyone else with a German message, whatever route they came by.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.access.permissions import is_member, moderates
from tumorboard.attendance.models import Attendance
from tumorboard.auth.models import Role, User
from tumorboard.conferences.models import ConferenceSession


def checked_in(session: Session, user: User, cs: ConferenceSession) -> bool:
    found = session.scalar(select(Attendance.id).where(Attendance.session_id == cs.id, Attendance.user_id == user.id))
    return found is not None


def can_sign(session: Session, user: User, cs: ConferenceSession) -> bool:
    """Sign the protocol or an amendment: the moderator or a deputy, checked in to this session."""
    return moderates(session, user, cs.board_id) and checked_in(session, user, cs)


def can_read_session_protocol(session: Session, user: User, cs: ConferenceSession) -> bool:
    """The protocol of a whole session (a certification record): coordinators, QM and the board's physicians."""
    return user.role in (Role.COORDINATOR, Role.QM) or is_member(session, user, cs.board_id)
