"""Board membership (with moderator and deputies), emergency access and the access log of patient data.

Services take the session and an explicit actor, flush, audit and never commit (STYLE.md rule 2).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.access.models import BoardMember, BoardRole, EmergencyAccess
from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.auth.models import Role, User
from tumorboard.conferences.models import Board
from tumorboard.errors import InvalidInput, NotFound
from tumorboard.i18n import N_

#: How long a Notfallzugriff lasts; a later access needs a new reason.
EMERGENCY_HOURS = 12
#: The shortest reason accepted for a Notfallzugriff (a word or two is not a reason).
MIN_REASON = 10


# --- membership ----------------------------------------------------------------------------------------------------
def members_of(session: Session, board: Board) -> Sequence[BoardMember]:
    """The board's physicians: moderator first, then deputies, then members, each by name."""
    rows = session.scalars(select(BoardMember).where(BoardMember.board_id == board.id)).all()
    order = {BoardRole.MODERATOR: 0, BoardRole.DEPUTY: 1, BoardRole.MEMBER: 2}
    return sorted(rows, key=lambda m: (order[m.role], m.user.display_name.casefold()))


def membership(session: Session, board_id: int, user_id: int) -> BoardMember | None:
    return session.scalar(select(BoardMember).where(BoardMember.board_id == board_id, BoardMember.user_id == user_id))


def board_ids_of(session: Session, user: User) -> set[int]:
    """The boards a user is a member of (in any board role)."""
    return set(session.scalars(select(BoardMember.board_id).where(BoardMember.user_id == user.id)))


def set_member(
    session: Session, board: Board, user: User, role: BoardRole | str, *, at: dt.datetime, actor: Actor
) -> BoardMember:
    """Add a physician to a board or change their board role. A new moderator replaces the old one, who stays a
    deputy (nobody loses access by accident)."""
    try:
        wanted = BoardRole(role)
    except ValueError:
        raise InvalidInput(
            N_("Unbekannte Rolle in der Konferenz: %(role)s"), field="role", role=str(role)[:20]
        ) from None
    if user.role is not Role.PHYSICIAN or not user.active:
        raise InvalidInput(
            N_("Mitglied einer Konferenz können nur aktive Ärztinnen und Ärzte sein (%(name)s ist es nicht)."),
            field="user",
            name=user.display_name,
        )
    row = membership(session, board.id, user.id)
    before = row.role.value if row else None
    if wanted is BoardRole.MODERATOR:
        current = session.scalar(
            select(BoardMember).where(BoardMember.board_id == board.id, BoardMember.role == BoardRole.MODERATOR)
        )
        if current is not None and current.user_id != user.id:
            current.role = BoardRole.DEPUTY
            session.flush()  # the partial unique index allows one moderator per board
            record_event(
                session, actor=actor, tag=Tag.ACCESS_MEMBER_ROLE, subject_type=SubjectType.BOARD, subject_id=board.id,
                at=at,
                before={"user_id": current.user_id, "role": BoardRole.MODERATOR.value},
                after={"user_id": current.user_id, "role": BoardRole.DEPUTY.value},
            )  # fmt: skip
    if row is None:
        row = BoardMember(board_id=board.id, user_id=user.id, role=wanted, added_at=at, added_by_id=actor.user_id)
        session.add(row)
    elif row.role is wanted:
        return row
    else:
        row.role = wanted
    session.flush()
    record_event(
        session, actor=actor, tag=Tag.ACCESS_MEMBER_ADD if before is None else Tag.ACCESS_MEMBER_ROLE,
        subject_type=SubjectType.BOARD, subject_id=board.id, at=at,
        before=None if before is None else {"user_id": user.id, "role": before},
        after={"user_id": user.id, "role": wanted.value},
    )  # fmt: skip
    return row


def remove_member(session: Session, board: Board, user: User, *, at: dt.datetime, actor: Actor) -> None:
    row = membership(session, board.id, user.id)
    if row is None:
        raise NotFound(N_("%(name)s ist kein Mitglied dieser Konferenz."), name=user.display_name)
    before = row.role.value
    session.delete(row)
    session.flush()
    record_event(
        session, actor=actor, tag=Tag.ACCESS_MEMBER_REMOVE, subject_type=SubjectType.BOARD, subject_id=board.id, at=at,
        before={"user_id": user.id, "role": before},
    )  # fmt: skip


def add_default_members(session: Session, board: Board, *, at: dt.datetime, actor: Actor) -> list[BoardMember]:
    """Every active physician whose discipline is one of the board's quorum disciplines becomes a member (those
    already in the board keep their role). Returns the new rows."""
    wanted = {name.casefold() for name in board.required_disciplines}
    added = []
    for user in session.scalars(select(User).where(User.role == Role.PHYSICIAN, User.active.is_(True))):
        if user.discipline is None or user.discipline.name.casefold() not in wanted:
            continue
        if membership(session, board.id, user.id) is None:
            added.append(set_member(session, board, user, BoardRole.MEMBER, at=at, actor=actor))
    return added


def moderators_of(session: Session, board_id: int) -> set[int]:
    """User ids of the board's moderator and deputies."""
    return set(
        session.scalars(
            select(BoardMember.user_id).where(
                BoardMember.board_id == board_id, BoardMember.role.in_([BoardRole.MODERATOR, BoardRole.DEPUTY])
            )
        )
    )


# --- emergency access ----------------------------------------------------------------------------------------------
def active_emergency_access(session: Session, user: User, case_id: int, at: dt.datetime) -> EmergencyAccess | None:
    return session.scalar(
        select(EmergencyAccess)
        .where(EmergencyAccess.user_id == user.id, EmergencyAccess.case_id == case_id, EmergencyAccess.expires_at > at)
        .order_by(EmergencyAccess.id.desc())
        .limit(1)
    )


def grant_emergency_access(
    session: Session, user: User, case_id: int, *, reason: str | None, at: dt.datetime, actor: Actor
) -> EmergencyAccess:
    """Notfallzugriff: allowed to everyone who reads cases, with a reason; audited and listed for QM."""
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON:
        raise InvalidInput(
            N_("Bitte den Grund des Notfallzugriffs angeben (mindestens %(n)s Zeichen)."), field="reason", n=MIN_REASON
        )
    row = EmergencyAccess(
        user_id=user.id,
        case_id=case_id,
        reason=text[:1000],
        granted_at=at,
        expires_at=at + dt.timedelta(hours=EMERGENCY_HOURS),
    )
    session.add(row)
    session.flush()
    record_event(
        session, actor=actor, tag=Tag.ACCESS_EMERGENCY_GRANT, subject_type=SubjectType.CASE, subject_id=case_id, at=at,
        after={"emergency_access_id": row.id, "expires_at": row.expires_at}, reason=text[:1000],
    )  # fmt: skip
    return row


def emergency_accesses(session: Session, *, limit: int = 500) -> Sequence[EmergencyAccess]:
    """Newest first, for the QM page."""
    return session.scalars(select(EmergencyAccess).order_by(EmergencyAccess.id.desc()).limit(limit)).all()


# --- access log and pseudonyms -------------------------------------------------------------------------------------
def log_access(
    session: Session, *, tag: Tag, subject_type: SubjectType, subject_id: int | str, at: dt.datetime, actor: Actor,
    case_ids: Sequence[int] = (), pseudonymised: Sequence[int] = (), emergency: bool = False,
) -> None:  # fmt: skip
    """One access event for one read of patient data (a page, a list, a download); lists name their cases by id:
    those shown with names (``case_ids``) and those shown as pseudonyms (``pseudonymised``)."""
    after: dict[str, object] = {}
    if case_ids:
        after["case_ids"] = list(case_ids)
    if pseudonymised:
        after["pseudonymised"] = list(pseudonymised)
    if emergency:
        after["emergency"] = True
    record_event(
        session, actor=actor, tag=tag, subject_type=subject_type, subject_id=subject_id, at=at, after=after or None
    )


def pseudonym(secret: str, patient_id: int) -> str:
    """A stable pseudonym for lists where names are not needed (QM): keyed with the instance secret, so it cannot
    be computed back to the patient without the database and the key."""
    digest = hmac.new(secret.encode(), f"patient:{patient_id}".encode(), hashlib.sha256).hexdigest()
    return f"P-{digest[:8].upper()}"
