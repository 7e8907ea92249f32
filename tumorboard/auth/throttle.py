"""Throttling of password checks: per client address, per account, and per account from one address.

Every failed check adds one to three counters (:class:`~tumorboard.auth.models.PasswordThrottle`). Past a number
of free failures each further failure starts a delay that doubles up to a cap; while a delay runs, no password is
checked for that key and the attempt is refused at once. There is no hard lock: the owner of an account can log
in from another address while a stranger's address waits (the tight limit is per account *and* address), and
once the quiet window has passed the counters start again.

Only checked attempts write audit events (one per failure, one per success); refused attempts are counted on the
counter row, and the first refusal of each delay writes one ``…:throttled`` event. Checks per address and window
are bounded by the delays, so anonymous clients cannot grow the append-only audit table without bound.
IPv6 clients are counted per /64 network, the block one subscriber usually holds.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tumorboard.auth.models import PasswordThrottle, ThrottleScope


@dataclass(frozen=True)
class Limit:
    #: Failures that cost nothing but the check itself.
    free: int
    #: The delay after the first failure past ``free``; it doubles with every further one ...
    first_delay: dt.timedelta
    #: ... up to this.
    max_delay: dt.timedelta

    def delay(self, failures: int) -> dt.timedelta | None:
        if failures < self.free:
            return None
        doublings = min(failures - self.free, 30)
        delay: dt.timedelta = min(self.first_delay * (2**doublings), self.max_delay)
        return delay


def _default_limits() -> dict[ThrottleScope, Limit]:
    minutes = dt.timedelta(minutes=1)
    seconds = dt.timedelta(seconds=1)
    return {
        ThrottleScope.ACCOUNT_ADDRESS: Limit(free=5, first_delay=30 * seconds, max_delay=15 * minutes),
        # a ward's computers or a hospital proxy share one address: more free failures, short first delay
        ThrottleScope.ADDRESS: Limit(free=20, first_delay=seconds, max_delay=15 * minutes),
        # guessing spread over many addresses; high enough that one stranger's address never reaches it in a window
        ThrottleScope.ACCOUNT: Limit(free=50, first_delay=seconds, max_delay=5 * minutes),
    }


@dataclass(frozen=True)
class ThrottlePolicy:
    #: A key's failures are forgotten after this long without a failure.
    window: dt.timedelta = dt.timedelta(minutes=15)
    limits: dict[ThrottleScope, Limit] = field(default_factory=_default_limits)

    @classmethod
    def from_settings(cls, *, max_failures: int, window_minutes: int) -> ThrottlePolicy:
        limits = _default_limits()
        tight = limits[ThrottleScope.ACCOUNT_ADDRESS]
        limits[ThrottleScope.ACCOUNT_ADDRESS] = Limit(max_failures, tight.first_delay, tight.max_delay)
        return cls(window=dt.timedelta(minutes=window_minutes), limits=limits)


def address_key(address: str) -> str:
    """The counted unit of a client address: IPv4 as is, IPv6 by its /64 network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:200] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def keys_for(username: str, address: str) -> dict[ThrottleScope, str]:
    addr = address_key(address)
    return {
        ThrottleScope.ACCOUNT_ADDRESS: f"{username} {addr}"[:200],
        ThrottleScope.ADDRESS: addr,
        ThrottleScope.ACCOUNT: username[:200],
    }


@dataclass(frozen=True)
class Blocked:
    scope: ThrottleScope
    key: str
    until: dt.datetime
    #: True for the first refusal of this delay (the one that is audited).
    first: bool


def _rows(session: Session, keys: dict[ThrottleScope, str], *, lock: bool) -> dict[ThrottleScope, PasswordThrottle]:
    found: dict[ThrottleScope, PasswordThrottle] = {}
    for scope, key in keys.items():
        query = select(PasswordThrottle).where(PasswordThrottle.scope == scope, PasswordThrottle.key == key)
        if lock:
            query = query.with_for_update()
        row = session.scalar(query)
        if row is not None:
            found[scope] = row
    return found


def check_blocked(session: Session, keys: dict[ThrottleScope, str], *, at: dt.datetime) -> Blocked | None:
    """The longest delay running for any of ``keys``, counted as a refusal; None when a check may proceed."""
    blocked = [
        (row.blocked_until, scope, row)
        for scope, row in _rows(session, keys, lock=False).items()
        if row.blocked_until is not None and row.blocked_until > at
    ]
    if not blocked:
        return None
    until, scope, row = max(blocked, key=lambda b: b[0])
    first = row.refused == 0
    row.refused += 1
    session.flush()
    return Blocked(scope=scope, key=row.key, until=until, first=first)


def _ensure_rows(session: Session, keys: dict[ThrottleScope, str], at: dt.datetime) -> None:
    """Insert missing counter rows without racing a concurrent request for the same key."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for scope, key in keys.items():
        stmt = insert(PasswordThrottle).values(
            scope=scope.value,
            key=key,
            failures=0,
            first_failure_at=at,
            last_failure_at=at,
            blocked_until=None,
            refused=0,
        )
        session.execute(stmt.on_conflict_do_nothing(index_elements=["scope", "key"]))


def record_failure(
    session: Session, keys: dict[ThrottleScope, str], policy: ThrottlePolicy, *, at: dt.datetime
) -> None:
    """Count a failed check on every key and start the delays that are due."""
    _ensure_rows(session, keys, at)
    for scope, row in _rows(session, keys, lock=True).items():
        if row.failures and row.last_failure_at < at - policy.window:
            row.failures, row.first_failure_at = 0, at
        row.failures += 1
        row.last_failure_at = at
        row.refused = 0
        delay = policy.limits[scope].delay(row.failures)
        row.blocked_until = at + delay if delay is not None else None
    session.flush()


def record_success(session: Session, keys: dict[ThrottleScope, str]) -> None:
    """A correct password clears the account's counters. The address keeps its count: logging in to one's own
    account must not reset a guessing run against others."""
    for scope, row in _rows(session, keys, lock=True).items():
        if scope is not ThrottleScope.ADDRESS:
            row.failures, row.blocked_until, row.refused = 0, None, 0
    session.flush()
