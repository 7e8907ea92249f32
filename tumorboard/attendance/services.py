"""Check-in, leaving, the live quorum and "present at" — the attendance side of a conference session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.attendance.models import Attendance, AttendanceMode
from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.auth.models import User
from tumorboard.auth.services import check_efn
from tumorboard.conferences.models import Board, ConferenceSession, QuorumKind
from tumorboard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tumorboard.hygiene import check_text
from tumorboard.i18n import N_


def _clean(value: str | None, limit: int) -> str:
    check_text(value, field="name")
    return " ".join((value or "").split())[:limit]


def get_attendance(session: Session, attendance_id: int) -> Attendance:
    row = session.get(Attendance, attendance_id)
    if row is None:
        raise NotFound(N_("Diesen Teilnahme-Eintrag gibt es nicht."))
    return row


def list_attendance(session: Session, cs: ConferenceSession) -> Sequence[Attendance]:
    return session.scalars(
        select(Attendance).where(Attendance.session_id == cs.id).order_by(Attendance.arrived_at, Attendance.id)
    ).all()


def _ensure_open(*, signed: bool) -> None:
    # The protocol domain owns the signature and depends on attendance (its list of participants), not the other
    # way round: callers pass ``protocol.services.is_signed(…)`` as ``signed``, and the rule lives here.
    if signed:
        raise Conflict(
            N_("Das Protokoll dieser Sitzung ist unterschrieben; die Teilnehmerliste kann nicht mehr geändert werden.")
        )


def check_in(
    session: Session,
    cs: ConferenceSession,
    *,
    user: User | None,
    mode: AttendanceMode | str,
    recorded_by: User,
    signed: bool,
    at: dt.datetime,
    actor: Actor,
    arrived_at: dt.datetime | None = None,
    name: str | None = None,
    institution: str | None = None,
    discipline: str | None = None,
    efn: str | None = None,
    stands_in_for_name: str | None = None,
    stands_in_for_discipline: str | None = None,
) -> Attendance:
    """Check a person in: an account (``user``) or an external participant (name, institution, discipline).
    ``signed``: whether the session's protocol is signed (then the list is frozen).

    ``recorded_by`` is who does it: a physician who is a member of the board checks in only themself; anyone else
    and external guests are checked in by the coordinator or the board's moderation (issue 10)."""
    _authorize_check_in(session, cs, user=user, recorded_by=recorded_by)
    if not cs.takes_place:
        raise Conflict(N_("Diese Sitzung findet nicht statt; niemand kann eingecheckt werden."))
    _ensure_open(signed=signed)
    try:
        how = AttendanceMode(mode)
    except ValueError:
        raise InvalidInput(N_("Bitte „vor Ort“ oder „Video“ wählen."), field="mode") from None
    arrived = arrived_at or at
    if arrived > at:
        raise InvalidInput(N_("Die Ankunftszeit darf nicht in der Zukunft liegen."), field="arrived_at")
    if arrived < cs.starts_at - dt.timedelta(hours=2) or arrived > cs.ends_at + dt.timedelta(hours=6):
        raise InvalidInput(N_("Die Ankunftszeit passt nicht zu dieser Sitzung."), field="arrived_at")
    sub_name = _clean(stands_in_for_name, 200) or None
    sub_discipline = _clean(stands_in_for_discipline, 120) or None
    if (sub_name is None) != (sub_discipline is None):
        raise InvalidInput(
            N_("Für eine Vertretung bitte Name und Fachrichtung der vertretenen Person angeben."), field="stands_in"
        )
    if user is not None:
        if not user.active:
            raise InvalidInput(N_("Dieses Konto ist deaktiviert."), field="user")
        if user.discipline is None:
            raise InvalidInput(
                N_("%(name)s hat keine Fachrichtung und kann nicht als Teilnehmer erfasst werden."),
                field="user",
                name=user.display_name,
            )
        person, where, subject, number = user.display_name, "", user.discipline.name, check_efn(efn) or user.efn
        duplicate = session.scalar(
            select(Attendance).where(Attendance.session_id == cs.id, Attendance.user_id == user.id)
        )
    else:
        person, where, subject = _clean(name, 200), _clean(institution, 200), _clean(discipline, 120)
        if len(person) < 3:
            raise InvalidInput(N_("Bitte den Namen der externen Person angeben."), field="name")
        if not where:
            raise InvalidInput(N_("Bitte die Institution der externen Person angeben."), field="institution")
        if not subject:
            raise InvalidInput(N_("Bitte die Fachrichtung angeben."), field="discipline")
        number = check_efn(efn)
        duplicate = next(
            (
                a
                for a in list_attendance(session, cs)
                if a.user_id is None and a.name.casefold() == person.casefold()
                and a.institution.casefold() == where.casefold()
            ),
            None,
        )  # fmt: skip
    if duplicate is not None:
        raise Conflict(
            N_("%(name)s ist in dieser Sitzung bereits eingecheckt (seit %(time)s Uhr)."),
            name=person,
            time=duplicate.arrived_at.astimezone(_berlin()).strftime("%H:%M"),
        )
    row = Attendance(
        session_id=cs.id,
        user=user,
        name=person,
        institution=where,
        discipline=subject,
        efn=number,
        mode=how,
        arrived_at=arrived,
        stands_in_for_name=sub_name,
        stands_in_for_discipline=sub_discipline,
        recorded_by_id=recorded_by.id,
        created_at=at,
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.ATTENDANCE_CHECK_IN,
        subject_type=SubjectType.ATTENDANCE,
        subject_id=row.id,
        at=at,
        after={
            "session_id": cs.id,
            "user_id": row.user_id,
            "external": row.user_id is None,
            "discipline": row.discipline,
            "mode": row.mode.value,
            "arrived_at": row.arrived_at,
            "stands_in_for_discipline": row.stands_in_for_discipline,
            "self": user is not None and user.id == recorded_by.id,
        },
    )
    return row


def _authorize_check_in(session: Session, cs: ConferenceSession, *, user: User | None, recorded_by: User) -> None:
    from tumorboard.attendance.permissions import can_check_in_self, can_run_session

    if can_run_session(session, recorded_by, cs):
        return
    if user is not None and user.id == recorded_by.id:
        if can_check_in_self(session, recorded_by, cs):
            return
        raise PermissionDenied(
            N_(
                "Selbst einchecken können nur Mitglieder dieser Konferenz. Gäste checkt die Koordination oder die "
                "Moderation ein."
            )
        )
    if user is None:
        raise PermissionDenied(N_("Externe Gäste checkt nur die Koordination oder die Moderation der Konferenz ein."))
    raise PermissionDenied(
        N_(
            "Andere Personen checkt nur die Koordination oder die Moderation ein; Sie können nur sich selbst "
            "einchecken."
        )
    )


def _acting_user(session: Session, actor: Actor) -> User | None:
    """The user behind an actor; None for system actors (CLI, demo loader, scheduler)."""
    return session.get(User, actor.user_id) if actor.user_id is not None else None


def _berlin() -> dt.tzinfo:
    from tumorboard.clock import BERLIN

    return BERLIN


def leave(
    session: Session,
    row: Attendance,
    *,
    signed: bool,
    at: dt.datetime,
    actor: Actor,
    left_at: dt.datetime | None = None,
) -> Attendance:
    """Record that a participant left (default: now). Leaving before arriving is refused; ``signed`` as for
    :func:`check_in`. A participant records
    their own departure; anyone else's the coordinator or the board's moderation."""
    from tumorboard.attendance.permissions import can_record_departure

    by = _acting_user(session, actor)
    if by is not None and not can_record_departure(session, by, row):
        raise PermissionDenied(
            N_("Das Gehen anderer erfasst nur die Koordination oder die Moderation; Ihr eigenes erfassen Sie selbst.")
        )
    _ensure_open(signed=signed)
    if row.left_at is not None:
        raise Conflict(N_("%(name)s ist schon gegangen."), name=row.name)
    when = left_at or at
    if when <= row.arrived_at:
        raise InvalidInput(
            N_("Das Gehen (%(left)s Uhr) muss nach der Ankunft (%(arrived)s Uhr) liegen."),
            field="left_at",
            left=when.astimezone(_berlin()).strftime("%H:%M"),
            arrived=row.arrived_at.astimezone(_berlin()).strftime("%H:%M"),
        )
    if when > at:
        raise InvalidInput(N_("Die Zeit des Gehens darf nicht in der Zukunft liegen."), field="left_at")
    row.left_at = when
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.ATTENDANCE_LEAVE,
        subject_type=SubjectType.ATTENDANCE,
        subject_id=row.id,
        at=at,
        before={"left_at": None},
        after={"left_at": when},
    )
    return row


def present_at(rows: Sequence[Attendance], moment: dt.datetime) -> list[Attendance]:
    return [a for a in rows if a.present_at(moment)]


@dataclass(frozen=True)
class GroupResult:
    kind: QuorumKind
    #: (discipline, names of those present who cover it)
    disciplines: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def met(self) -> bool:
        covered = [bool(names) for _, names in self.disciplines]
        return all(covered) if self.kind is QuorumKind.ALL_OF else any(covered)

    @property
    def missing(self) -> tuple[str, ...]:
        if self.met:
            return ()
        names = tuple(d for d, who in self.disciplines if not who)
        return names if self.kind is QuorumKind.ALL_OF else (" / ".join(names),)


@dataclass(frozen=True)
class QuorumStatus:
    groups: tuple[GroupResult, ...]
    at: dt.datetime

    @property
    def met(self) -> bool:
        return all(g.met for g in self.groups)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(m for g in self.groups for m in g.missing)


def quorum(board: Board, rows: Sequence[Attendance], moment: dt.datetime) -> QuorumStatus:
    """The board's quorum groups against who is present at ``moment`` (a substitute counts for the discipline
    they stand in for)."""
    here = present_at(rows, moment)
    groups = []
    for group in board.quorum_groups:
        groups.append(
            GroupResult(
                kind=group.kind,
                disciplines=tuple(
                    (d.name, tuple(a.name for a in here if a.counts_for.casefold() == d.name.casefold()))
                    for d in sorted(group.disciplines, key=lambda d: d.name)
                ),
            )
        )
    return QuorumStatus(groups=tuple(groups), at=moment)


def live_quorum(session: Session, cs: ConferenceSession, at: dt.datetime) -> QuorumStatus:
    return quorum(cs.board, list_attendance(session, cs), at)


def sessions_attended(session: Session, user: User) -> Sequence[Attendance]:
    return session.scalars(
        select(Attendance).where(Attendance.user_id == user.id).order_by(Attendance.arrived_at.desc())
    ).all()
