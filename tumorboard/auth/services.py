"""Accounts: creation, login with throttling, calendar feed tokens."""

from __future__ import annotations

import datetime as dt
import math
import re
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.audit.services import record_event
from tumorboard.audit.tags import SubjectType, Tag
from tumorboard.auth.actors import ANONYMOUS, Actor
from tumorboard.auth.models import Role, ThrottleScope, User
from tumorboard.auth.passwords import check_password_policy, hash_password, verify_password
from tumorboard.auth.throttle import Blocked, ThrottlePolicy, check_blocked, keys_for, record_failure, record_success
from tumorboard.disciplines.services import get_or_create_discipline
from tumorboard.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tumorboard.hygiene import check_text
from tumorboard.i18n import N_

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")


def actor_for(user: User) -> Actor:
    return Actor(user_id=user.id, label=f"user:{user.username}")


def is_valid_efn(efn: str) -> bool:
    """15 digits whose last is the Luhn check digit of the first 14 (Bundesärztekammer EIV)."""
    return bool(re.fullmatch(r"[0-9]{15}", efn)) and luhn_valid(efn)


def luhn_valid(digits: str) -> bool:
    """The Luhn mod-10 check over a string of digits (EFN; every published VNR passes it too, qm.md)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
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
    if not (clean.isascii() and clean.isdigit()) or len(clean) != 15:
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
    check_text(display_name, field="display_name")
    check_text(email, field="email")
    if not display_name.strip():
        raise InvalidInput(N_("Bitte einen Anzeigenamen angeben."), field="display_name")
    check_password_policy(password, user_inputs=[username, *display_name.split()])
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


class LoginThrottled(PermissionDenied):
    pass


def _throttled(blocked: Blocked, *, at: dt.datetime) -> LoginThrottled:
    seconds = max(1, math.ceil((blocked.until - at).total_seconds()))
    if seconds < 120:
        return LoginThrottled(
            N_("Zu viele fehlgeschlagene Anmeldungen. Bitte in %(seconds)s Sekunden erneut versuchen."),
            seconds=seconds,
        )
    return LoginThrottled(
        N_("Zu viele fehlgeschlagene Anmeldungen. Bitte in %(minutes)s Minuten erneut versuchen."),
        minutes=math.ceil(seconds / 60),
    )


#: (success, failure, throttled) per purpose of a password check.
_PASSWORD_TAGS: dict[str, tuple[Tag, Tag, Tag]] = {
    "login": (Tag.AUTH_LOGIN_SUCCESS, Tag.AUTH_LOGIN_FAILURE, Tag.AUTH_LOGIN_THROTTLED),
    "reauth": (Tag.AUTH_REAUTH_SUCCESS, Tag.AUTH_REAUTH_FAILURE, Tag.AUTH_REAUTH_THROTTLED),
}


def _check_password(
    session: Session,
    *,
    username: str,
    user: User | None,
    password: str,
    address: str,
    at: dt.datetime,
    policy: ThrottlePolicy,
    purpose: str,
) -> bool:
    """The one throttled and audited password check behind login and re-authentication.

    Raises :class:`LoginThrottled` while a delay runs (no password is checked then). An unknown or inactive user
    costs one Argon2 verification against a dummy hash of the same parameters, like a known one."""
    keys = keys_for(username, address)
    known = user is not None and purpose == "reauth"  # a login attempt names a user only once it succeeded
    subject = (SubjectType.USER, str(user.id)) if known and user is not None else (SubjectType.USERNAME, username)
    tags = _PASSWORD_TAGS[purpose]
    actor = actor_for(user) if known and user is not None else ANONYMOUS
    blocked = check_blocked(session, keys, at=at)
    if blocked is not None:
        if blocked.first:
            record_event(
                session,
                actor=actor,
                tag=tags[2],
                subject_type=subject[0],
                subject_id=subject[1],
                at=at,
                after={"address": keys[ThrottleScope.ADDRESS], "scope": blocked.scope.value,
                       "until": blocked.until},
            )  # fmt: skip
        raise _throttled(blocked, at=at)
    ok = verify_password(user.password_hash if user is not None else None, password)
    ok = ok and user is not None and user.active
    if not ok or user is None:
        record_failure(session, keys, policy, at=at)
        record_event(
            session,
            actor=actor,
            tag=tags[1],
            subject_type=subject[0],
            subject_id=subject[1],
            at=at,
            after={"address": keys[ThrottleScope.ADDRESS]},
        )
        return False
    record_success(session, keys)
    record_event(
        session,
        actor=actor_for(user),
        tag=tags[0],
        subject_type=SubjectType.USER,
        subject_id=user.id,
        at=at,
        after={"address": keys[ThrottleScope.ADDRESS]},
    )
    return True


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    address: str,
    at: dt.datetime,
    policy: ThrottlePolicy,
) -> User:
    """Check a login, throttled per account, per client address and per both (see :mod:`tumorboard.auth.throttle`).

    The caller commits in every case, so that a failure counts even though an exception is raised.
    """
    name = username.strip().lower()[:80]
    user = session.scalar(select(User).where(User.username == name))
    if not _check_password(
        session, username=name, user=user, password=password, address=address, at=at, policy=policy, purpose="login"
    ):
        raise PermissionDenied(N_("Benutzername oder Passwort ist falsch."))
    assert user is not None
    return user


def reauthenticate(
    session: Session, user: User, *, password: str, address: str, at: dt.datetime, policy: ThrottlePolicy
) -> None:
    """Confirm the logged-in user's password before a signature (protocol, amendment): throttled and audited like
    the login, on the same counters. The caller commits in every case."""
    if not _check_password(
        session,
        username=user.username,
        user=user,
        password=password,
        address=address,
        at=at,
        policy=policy,
        purpose="reauth",
    ):
        raise InvalidInput(
            N_("Das Passwort ist falsch. Es wurde nichts unterschrieben und nichts geändert."), field="password"
        )


def end_sessions(session: Session, user: User, *, at: dt.datetime, actor: Actor) -> None:
    """Logout: every login session of ``user`` ends on the server side — a cookie saved before, on any device, no
    longer matches the account's session generation."""
    user.session_generation += 1
    session.flush()
    record_event(
        session,
        actor=actor,
        tag=Tag.AUTH_SESSION_LOGOUT,
        subject_type=SubjectType.USER,
        subject_id=user.id,
        at=at,
        after={"session_generation": user.session_generation},
    )


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
