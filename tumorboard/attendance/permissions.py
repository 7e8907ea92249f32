"""Who checks whom in and out (issue 10). The services call these, so web and CLI follow the same rules.

- Checking in someone else, external guests, recording departures: the coordinator, or the board's moderator or a
  deputy.
- A physician who is a member of the board checks in only themself, and records their own departure.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tumorboard.access.permissions import is_member, moderates
from tumorboard.attendance.models import Attendance
from tumorboard.auth.models import Role, User
from tumorboard.conferences.models import ConferenceSession


def can_run_session(session: Session, user: User, cs: ConferenceSession) -> bool:
    """Check others and guests in, record departures, record recommendations: coordinator or moderation."""
    return user.role is Role.COORDINATOR or moderates(session, user, cs.board_id)


def can_check_in_self(session: Session, user: User, cs: ConferenceSession) -> bool:
    return user.role is Role.PHYSICIAN and is_member(session, user, cs.board_id)


def can_record_departure(session: Session, user: User, row: Attendance) -> bool:
    return row.user_id == user.id or can_run_session(session, user, row.session)
