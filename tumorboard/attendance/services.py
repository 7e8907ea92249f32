"""Check-in, leaving, the live quorum and "present at" — the attendance side of a conference session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.attendance.models import Attendance, AttendanceMode
from tumorboard.audit.services import record_event, require_reason
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import Actor
from tumorboard.auth.models import User
from tumorboard.auth.services import check_efn
from tumorboard.conferences.models import Board, ConferenceSession, QuorumKind
from tumorboard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tumorboard.hygiene import check_text
from tumorboard.i18n import N_

#: The choice for a discipline that is not on the centre's list; such a participant never counts for the quorum.
OTHER = "sonstige"
OTHER_PREFIX = f"{OTHER}: "


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


def resolve_discipline(
    session: Session, value: str | None, other: str | None = None, *, field: str = "discipline", required: bool = True
) -> str | None:
    """A discipline from the centre's list (its canonical spelling), or ``sonstige: <free text>``, which never counts
    for the quorum (issue 13: "Thorax-Chirurgie" was accepted silently and never matched "Thoraxchirurgie")."""
    from tumorboard.disciplines.services import list_disciplines

    chosen = _clean(value, 120)
    if not chosen:
        if required:
            raise InvalidInput(N_("Bitte die Fachrichtung angeben."), field=field)
        return None
    if chosen.casefold() == OTHER:
        text = _clean(other, 120 - len(OTHER_PREFIX))
        if len(text) < 3:
            raise InvalidInput(N_("Bitte bei „sonstige“ die Fachrichtung als Text angeben."), field=field)
        return f"{OTHER_PREFIX}{text}"
    if chosen.casefold().startswith(OTHER_PREFIX):
        return chosen
    for known in list_disciplines(session):
        if known.name.casefold() == chosen.casefold():
            return known.name
    raise InvalidInput(
        N_("„%(name)s“ steht nicht in der Liste der Fachrichtungen. Bitte eine aus der Liste wählen oder „sonstige“."),
        field=field,
        name=chosen[:60],
    )


def arrival_window(cs: ConferenceSession) -> tuple[dt.datetime, dt.datetime]:
    """Arrival times a check-in accepts: from two hours before the start to six hours after the end."""
    return cs.starts_at - dt.timedelta(hours=2), cs.ends_at + dt.timedelta(hours=6)


def _check_arrival(cs: ConferenceSession, arrived: dt.datetime, at: dt.datetime) -> None:
    if arrived > at:
        raise InvalidInput(N_("Die Ankunftszeit darf nicht in der Zukunft liegen."), field="arrived_at")
    first, last = arrival_window(cs)
    if not first <= arrived <= last:
        raise InvalidInput(
            N_("Die Ankunftszeit passt nicht zu dieser Sitzung: erlaubt ist %(first)s bis %(last)s Uhr."),
            field="arrived_at",
            first=first.astimezone(_berlin()).strftime("%d.%m.%Y %H:%M"),
            last=last.astimezone(_berlin()).strftime("%d.%m.%Y %H:%M"),
        )


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
    other_discipline: str | None = None,
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
    _check_arrival(cs, arrived, at)
    sub_name = _clean(stands_in_for_name, 200) or None
    sub_discipline = resolve_discipline(session, stands_in_for_discipline, field="stands_in", required=False)
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
        earlier = [a for a in list_attendance(session, cs) if a.user_id == user.id]
    else:
        person, where = _clean(name, 200), _clean(institution, 200)
        if len(person) < 3:
            raise InvalidInput(N_("Bitte den Namen der externen Person angeben."), field="name")
        if not where:
            raise InvalidInput(N_("Bitte die Institution der externen Person angeben."), field="institution")
        subject = resolve_discipline(session, discipline, other_discipline) or ""
        number = check_efn(efn)
        earlier = [
            a
            for a in list_attendance(session, cs)
            if a.user_id is None and a.name.casefold() == person.casefold()
            and a.institution.casefold() == where.casefold()
        ]  # fmt: skip
    # Leaving and returning is allowed (issue 13): a second row for the same person, after the first one ended.
    duplicate = next((a for a in earlier if a.left_at is None), None)
    if duplicate is not None:
        raise Conflict(
            N_("%(name)s ist in dieser Sitzung bereits eingecheckt (seit %(time)s Uhr)."),
            name=person,
            time=duplicate.arrived_at.astimezone(_berlin()).strftime("%H:%M"),
        )
    last_left = max((a.left_at for a in earlier if a.left_at is not None), default=None)
    if last_left is not None and arrived < last_left:
        raise InvalidInput(
            N_("%(name)s ist um %(time)s Uhr gegangen; die neue Ankunft muss danach liegen."),
            field="arrived_at",
            name=person,
            time=last_left.astimezone(_berlin()).strftime("%H:%M"),
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
            "returned": bool(earlier),
        },
    )
    return row


def _snapshot(row: Attendance) -> dict[str, object]:
    return {
        "arrived_at": row.arrived_at,
        "left_at": row.left_at,
        "mode": row.mode.value,
        "discipline": row.discipline,
    }


def _authorize_correction(session: Session, row: Attendance, actor: Actor) -> None:
    from tumorboard.attendance.permissions import can_run_session

    by = _acting_user(session, actor)
    if by is not None and not can_run_session(session, by, row.session):
        raise PermissionDenied(N_("Check-ins korrigiert nur die Koordination oder die Moderation der Konferenz."))


def correct_attendance(
    session: Session,
    row: Attendance,
    *,
    arrived_at: dt.datetime | None,
    left_at: dt.datetime | None,
    mode: AttendanceMode | str,
    discipline: str | None,
    other_discipline: str | None = None,
    reason: str | None,
    signed: bool,
    at: dt.datetime,
    actor: Actor,
) -> Attendance:
    """Correct a check-in (arrival, departure, mode, discipline) with a reason; the before and after values go to the
    audit log. Refused once the protocol is signed (its PDF and hash stay as signed)."""
    _authorize_correction(session, row, actor)
    _ensure_open(signed=signed)
    text = require_reason(reason, N_("Bitte einen Grund für die Korrektur angeben."))
    try:
        how = AttendanceMode(mode)
    except ValueError:
        raise InvalidInput(N_("Bitte „vor Ort“ oder „Video“ wählen."), field="mode") from None
    arrived = arrived_at or row.arrived_at
    _check_arrival(row.session, arrived, at)
    if left_at is not None:
        if left_at <= arrived:
            raise InvalidInput(
                N_("Das Gehen (%(left)s Uhr) muss nach der Ankunft (%(arrived)s Uhr) liegen."),
                field="left_at",
                left=left_at.astimezone(_berlin()).strftime("%H:%M"),
                arrived=arrived.astimezone(_berlin()).strftime("%H:%M"),
            )
        if left_at > at:
            raise InvalidInput(N_("Die Zeit des Gehens darf nicht in der Zukunft liegen."), field="left_at")
    subject = row.discipline
    if row.user_id is None and discipline:
        subject = resolve_discipline(session, discipline, other_discipline) or row.discipline
    before = _snapshot(row)
    row.arrived_at, row.left_at, row.mode, row.discipline = arrived, left_at or row.left_at, how, subject
    after = _snapshot(row)
    if after == before:
        raise InvalidInput(N_("Es wurde nichts geändert."), field="arrived_at")
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.ATTENDANCE_CORRECT,
        subject_type=SubjectType.ATTENDANCE,
        subject_id=row.id,
        at=at,
        before={k: v for k, v in before.items() if after[k] != v},
        after={k: v for k, v in after.items() if before[k] != v},
        reason=text,
    )
    return row


def undo_check_in(
    session: Session,
    row: Attendance,
    *,
    reason: str | None,
    signed: bool,
    listed: bool,
    at: dt.datetime,
    actor: Actor,
) -> None:
    """Undo a check-in made by mistake (wrong person, wrong session): the row goes, the audit log keeps what it
    said and why. Refused once the protocol is signed, and while a recommendation lists the person (``listed``:
    the protocol domain knows, as with ``signed``)."""
    _authorize_correction(session, row, actor)
    _ensure_open(signed=signed)
    text = require_reason(reason, N_("Bitte einen Grund angeben, warum der Check-in zurückgenommen wird."))
    if listed:
        raise Conflict(
            N_("%(name)s ist bei einer Empfehlung als beteiligt erfasst; bitte dort zuerst austragen."), name=row.name
        )
    before = {"session_id": row.session_id, "user_id": row.user_id, "name": row.name, **_snapshot(row)}
    row_id = row.id
    session.delete(row)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.ATTENDANCE_UNDO,
        subject_type=SubjectType.ATTENDANCE,
        subject_id=row_id,
        at=at,
        before=before,
        reason=text,
    )


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
