"""Every password check is throttled per client address, per account and per both, with growing delays instead of
a lock; unknown users cost as much time as known ones; anonymous clients cannot grow the audit table."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from tests.conftest import csrf_from
from tumorboard.audit.models import AuditEvent
from tumorboard.auth import passwords
from tumorboard.auth.models import PasswordThrottle
from tumorboard.auth.throttle import Limit, address_key

STRANGER = "198.51.100.7"
OWNER = "203.0.113.20"


def _try(client, username: str, password: str, address: str = STRANGER, **headers: str):
    page = client.get("/login", environ_base={"REMOTE_ADDR": address}, headers=headers)
    return client.post(
        "/login",
        data={"csrf_token": csrf_from(page.text), "username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )


def _login_audit_rows(db) -> int:
    return db.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.tag.startswith("auth:login:"))) or 0


def _throttled(response) -> bool:
    return response.status_code == 401 and "Zu viele fehlgeschlagene Anmeldungen" in response.text


def test_one_address_trying_100_usernames_is_slowed(client, demo, clock):
    answers = [_try(client, f"name{i:03d}", "falsch") for i in range(100)]
    checked = [r for r in answers if not _throttled(r)]
    assert all("Benutzername oder Passwort ist falsch." in r.text for r in checked)
    # 20 free failures, then every further attempt waits for a delay that has not passed (the clock stands still)
    assert len(checked) == 20 and all(_throttled(r) for r in answers[20:])
    assert "in 1 Sekunden" in answers[20].text
    # the delay grows: after 1 s one more check, then 2 s
    clock.advance(dt.timedelta(seconds=1))
    assert not _throttled(_try(client, "name100", "falsch"))
    assert _throttled(_try(client, "name101", "falsch"))
    clock.advance(dt.timedelta(seconds=1))
    assert _throttled(_try(client, "name102", "falsch"))
    clock.advance(dt.timedelta(seconds=1))
    assert not _throttled(_try(client, "name103", "falsch"))
    # even the right password of a real account waits while its address is slowed
    assert _throttled(_try(client, "qm", "tumorboard-demo"))
    # another address is not affected
    assert _try(client, "qm", "tumorboard-demo", address=OWNER).status_code == 302


def test_audit_rows_stay_bounded_for_anonymous_floods(client, demo):
    before = _login_audit_rows(demo)
    for i in range(300):
        _try(client, f"flood{i}", "falsch")
    # 20 checked failures and one "throttled" event for the delay; the 279 refused attempts are counted, not logged
    assert _login_audit_rows(demo) - before == 21
    row = demo.scalar(select(PasswordThrottle).where(PasswordThrottle.key == STRANGER))
    assert row.failures == 20 and row.refused == 280
    # counter rows: one for the address, two per checked user name, none for refused attempts
    assert demo.scalar(select(func.count(PasswordThrottle.id))) == 1 + 2 * 20


def test_a_stranger_does_not_lock_out_the_owner(client, demo, clock):
    for _ in range(5):
        assert _try(client, "koordination", "falsch").status_code == 401
    assert _throttled(_try(client, "koordination", "tumorboard-demo"))  # the stranger's address waits
    # the owner at her own computer logs in at once
    assert _try(client, "koordination", "tumorboard-demo", address=OWNER).status_code == 302
    # and the stranger's delay grows: 30 s after the 5th failure, then 60 s
    clock.advance(dt.timedelta(seconds=31))
    assert _try(client, "koordination", "falsch").status_code == 401
    clock.advance(dt.timedelta(seconds=31))
    assert _throttled(_try(client, "koordination", "falsch"))
    tags = demo.scalars(select(AuditEvent.tag).where(AuditEvent.subject_id == "koordination")).all()
    assert tags.count("auth:login:failure") == 6 and tags.count("auth:login:throttled") == 2


def test_forwarded_for_is_ignored_without_a_configured_proxy(client, demo):
    """A client cannot dodge the address limit by sending its own X-Forwarded-For."""
    answers = [_try(client, f"n{i}", "falsch", **{"X-Forwarded-For": f"10.0.0.{i}"}) for i in range(25)]
    assert sum(_throttled(r) for r in answers) == 5


def test_forwarded_for_from_the_configured_proxy_counts(runtime, demo):
    from dataclasses import replace

    from tumorboard.web import create_app

    runtime.settings = replace(runtime.settings, proxy_hops=1)
    client = create_app(runtime).test_client()
    # nginx appends the peer it saw; only the last entry is trusted with one hop, a forged first one is ignored
    for i in range(5):
        _try(client, "koordination", "falsch", address="127.0.0.1", **{"X-Forwarded-For": f"10.9.9.{i}, {STRANGER}"})
    assert _throttled(_try(client, "koordination", "x", address="127.0.0.1", **{"X-Forwarded-For": STRANGER}))
    ok = _try(client, "koordination", "tumorboard-demo", address="127.0.0.1", **{"X-Forwarded-For": OWNER})
    assert ok.status_code == 302


def test_ipv6_clients_are_counted_per_64_network():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.4") == "192.0.2.4"


def test_delays_double_up_to_the_cap():
    limit = Limit(free=5, first_delay=dt.timedelta(seconds=30), max_delay=dt.timedelta(minutes=15))
    assert [limit.delay(n) for n in (4, 5, 6, 7)] == [
        None,
        dt.timedelta(seconds=30),
        dt.timedelta(seconds=60),
        dt.timedelta(seconds=120),
    ]
    assert limit.delay(500) == dt.timedelta(minutes=15)


@pytest.fixture
def production_hashing():
    """The real Argon2 parameters of production (RFC 9106 low-memory profile), not the tests' CHEAPEST."""
    original = passwords._hasher
    passwords._hasher = PasswordHasher()
    yield
    passwords._hasher = original


#: Largest median difference (ms) between a known and an unknown user's failed login that counts as "as long".
TIMING_BOUND_MS = 25


def test_unknown_users_take_as_long_as_known_ones(app, client, demo, production_hashing):
    """Medians over interleaved pairs of tries through the whole login view. CPU time of this process (the app
    runs in it; Argon2's lanes are its threads) is what the code decides; it is immune to the other processes on
    a busy test machine, which make single wall-clock times jump by ±100 ms. The wall-clock difference is checked
    per pair (load drifts slowly), with the same bound. A round passes when both are within
    :data:`TIMING_BOUND_MS`; up to three rounds. The leak this guards against — a skipped hash — is ~190 ms in every
    round; the noise of a busy two-core machine reached 22 ms in one round's CPU-time median (three rounds of -11,
    +22 and -10 ms in a full `make test`), so the bound is 25 ms, far below the leak."""
    from tests.factories import make_user

    for attempt in range(3):  # one account per round: the per-account limit must not answer instead
        make_user(demo, dt.datetime(2026, 11, 23, tzinfo=dt.UTC), username=f"zeitmessung{attempt}")
    demo.commit()
    passwords.warm_up()

    def timed(username: str, i: int) -> tuple[float, float]:
        page = client.get("/login", environ_base={"REMOTE_ADDR": f"192.0.{i // 250}.{i % 250}"})
        data = {"csrf_token": csrf_from(page.text), "username": username, "password": "falsch"}
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.post("/login", data=data, environ_base={"REMOTE_ADDR": f"192.0.{i // 250}.{i % 250}"})
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert response.status_code == 401 and "Benutzername oder Passwort ist falsch." in response.text
        return wall * 1000, cpu * 1000

    rounds = []
    for attempt in range(3):
        known, unknown = [], []
        for i in range(21):  # interleaved, each from its own address so the throttle never answers instead
            known.append(timed(f"zeitmessung{attempt}", 100 * attempt + 2 * i))
            unknown.append(timed(f"niemand{attempt}-{i}", 100 * attempt + 2 * i + 1))
        known_cpu, unknown_cpu = statistics.median(k[1] for k in known), statistics.median(u[1] for u in unknown)
        assert known_cpu > 50, "production hashing is not in use"
        wall = statistics.median(k[0] - u[0] for k, u in zip(known, unknown, strict=True))
        rounds.append((known_cpu - unknown_cpu, wall))
        if abs(known_cpu - unknown_cpu) < TIMING_BOUND_MS and abs(wall) < TIMING_BOUND_MS:
            break
    else:  # a systematic difference (a skipped hash: ~190 ms) shows in every round; a burst of load does not
        raise AssertionError(f"median differences (ms) known - unknown per round, (CPU, wall-clock): {rounds}")
