"""Accounts: creation, login with throttling, calendar feed tokens."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tumorboard.audit.models import AuditEvent
from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import ANONYMOUS, Actor
from tumorboard.auth.models import Role, User
from tumorboard.auth.passwords import hash_password, verify_password
from tumorboard.disciplines.services import get_or_create_discipline
from tumorboard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tumorboard.i18n import N_

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")
MIN_PASSWORD_LENGTH = 12


def actor_for(user: User) -> Actor:
    return Actor(user_id=user.id, label=f"user:{user.username}")


def is_valid_efn(efn: str) -> bool:
    """15 digits whose last is the Luhn check digit of the first 14 (Bundesärztekammer EIV)."""
    if not re.fullmatch(r"\d{15}", efn):
        return False
    total = 0
    for i, ch in enumerate(reversed(efn)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def check_efn(efn: str | None) -> str | None:
    """``None`` for no EFN; else the 15 digits (spaces dropped), or a clear error (length first, then the check
    digit). The one EFN rule: accounts (here) and attendance check-in use it."""
    clean = (efn or "").replace(" ", "")
    if not clean:
        return None
    if not clean.isdigit() or len(clean) != 15:
        raise InvalidInput(
            N_("Die EFN muss aus genau 15 Ziffern bestehen (eingegeben: %(n)s Zeichen)."), field="efn", n=len(clean)
        )
    if not is_valid_efn(clean):
        raise InvalidInput(N_("Die Prüfziffer der EFN stimmt nicht."), field="efn")
    return clean


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    password: str,
    role: Role | str,
    at: dt.datetime,
    actor: Actor,
    discipline: str | None = None,
    efn: str | None = None,
    email: str | None = None,
) -> User:
    """Create a local account; a physician needs a discipline."""
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            N_("Der Benutzername darf nur Kleinbuchstaben, Ziffern, Punkt, Binde- und Unterstrich enthalten."),
            field="username",
        )
    if not display_name.strip():
        raise InvalidInput(N_("Bitte einen Anzeigenamen angeben."), field="display_name")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            N_("Das Passwort muss mindestens %(n)s Zeichen lang sein."), field="password", n=MIN_PASSWORD_LENGTH
        )
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(N_("Unbekannte Rolle: %(role)s"), field="role", role=str(role)) from None
    if role is Role.PHYSICIAN and not (discipline and discipline.strip()):
        raise InvalidInput(N_("Ärztinnen und Ärzte brauchen eine Fachrichtung."), field="discipline")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(N_("Den Benutzernamen %(username)s gibt es schon."), field="username", username=username)
    user = User(
        username=username,
        display_name=display_name.strip(),
        email=(email or "").strip() or None,
        role=role,
        discipline=get_or_create_discipline(session, discipline) if discipline else None,
        efn=check_efn(efn),
        password_hash=hash_password(password),
        active=True,
        locale="de",
        created_at=at,
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.AUTH_USER_CREATE,
        subject_type=SubjectType.USER,
        subject_id=user.id,
        at=at,
        after={
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role.value,
            "discipline": user.discipline.name if user.discipline else None,
            "efn": user.efn,
        },
    )
    return user


def recent_failures(session: Session, username: str, *, since: dt.datetime) -> int:
    return (
        session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.tag == Tag.AUTH_LOGIN_FAILURE,
                AuditEvent.subject_type == SubjectType.USERNAME,
                AuditEvent.subject_id == username,
                AuditEvent.occurred_at >= since,
            )
        )
        or 0
    )


class LoginThrottled(PermissionDenied):
    pass


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    at: dt.datetime,
    max_failures: int,
    window: dt.timedelta,
) -> User:
    """Check a login. Failures are audited and counted; too many within ``window`` lock the name for a while.

    The caller commits in every case, so that the failure counts even though an exception is raised.
    """
    name = username.strip().lower()[:80]
    if recent_failures(session, name, since=at - window) >= max_failures:
        record_event(
            session,
            actor=ANONYMOUS,
            tag=Tag.AUTH_LOGIN_THROTTLED,
            subject_type=SubjectType.USERNAME,
            subject_id=name,
            at=at,
        )
        raise LoginThrottled(
            N_("Zu viele fehlgeschlagene Anmeldungen. Bitte in %(minutes)s Minuten erneut versuchen."),
            minutes=int(window.total_seconds() // 60),
        )
    user = session.scalar(select(User).where(User.username == name))
    if user is None or not user.active or not verify_password(user.password_hash if user else None, password):
        record_event(
            session,
            actor=ANONYMOUS,
            tag=Tag.AUTH_LOGIN_FAILURE,
            subject_type=SubjectType.USERNAME,
            subject_id=name,
            at=at,
        )
        raise PermissionDenied(N_("Benutzername oder Passwort ist falsch."))
    record_event(
        session,
        actor=actor_for(user),
        tag=Tag.AUTH_LOGIN_SUCCESS,
        subject_type=SubjectType.USER,
        subject_id=user.id,
        at=at,
    )
    return user


def active_physicians(session: Session) -> Sequence[User]:
    """Active physicians by display name: who may present a case or sign a protocol."""
    return session.scalars(
        select(User).where(User.role == Role.PHYSICIAN, User.active.is_(True)).order_by(User.display_name)
    ).all()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(N_("Benutzer nicht gefunden."))
    return user


def renew_feed_token(session: Session, user: User, *, at: dt.datetime, actor: Actor) -> str:
    """Issue a new feed token; the old URL stops working at once."""
    had = user.feed_token is not None
    user.feed_token = secrets.token_urlsafe(32)
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.AUTH_FEED_TOKEN_RENEW,
        subject_type=SubjectType.USER,
        subject_id=user.id,
        at=at,
        before={"had_token": had},
        after={"had_token": True},
    )
    return user.feed_token


def revoke_feed_token(session: Session, user: User, *, at: dt.datetime, actor: Actor) -> None:
    had = user.feed_token is not None
    user.feed_token = None
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.AUTH_FEED_TOKEN_REVOKE,
        subject_type=SubjectType.USER,
        subject_id=user.id,
        at=at,
        before={"had_token": had},
        after={"had_token": False},
    )


def user_by_feed_token(session: Session, token: str) -> User:
    if not token or len(token) > 64:
        raise NotFound(N_("Unbekannter Kalender-Link."))
    user = session.scalar(select(User).where(User.feed_token == token, User.active.is_(True)))
    # compare_digest over the found value: the index lookup already matched, this guards against collation quirks
    if user is None or user.feed_token is None or not secrets.compare_digest(user.feed_token, token):
        raise NotFound(N_("Unbekannter Kalender-Link."))
    return user


def set_locale(session: Session, user: User, locale: str, *, at: dt.datetime) -> None:
    if locale not in ("de", "en"):
        raise InvalidInput(N_("Unbekannte Sprache."))
    if user.locale != locale:
        before = user.locale
        user.locale = locale
        record_event(
            session,
            actor=actor_for(user),
            tag=Tag.AUTH_USER_LOCALE,
            subject_type=SubjectType.USER,
            subject_id=user.id,
            at=at,
            before={"locale": before},
            after={"locale": locale},
        )
