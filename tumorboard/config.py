"""Settings: one frozen dataclass read from ``TUMORBOARD_*`` environment variables.

Production refuses to start without a secret key; ``make run`` sets ``TUMORBOARD_ENV=development`` and
creates a key for the demo in the instance folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tumorboard.errors import ConfigurationError
from tumorboard.i18n import N_

#: Milliseconds a transaction waits for a database lock (SQLite busy_timeout, PostgreSQL lock_timeout): above the
#: 15 s a long write may hold the lock, below gunicorn's 30 s worker timeout.
DEFAULT_BUSY_TIMEOUT_MS = 20_000

CHECKOUT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    env: str
    instance_path: Path
    database_url: str
    secret_key: str
    #: Cookies only over HTTPS; off in development because the demo serves plain HTTP on 127.0.0.1.
    cookie_secure: bool
    #: How far ahead the scheduler keeps concrete sessions (weeks).
    horizon_weeks: int
    #: Failed password checks per account and client address within ``login_window_minutes`` before each further
    #: attempt has to wait (a delay that doubles with every failure; never a hard lock of the account).
    login_max_failures: int
    login_window_minutes: int
    log_level: str
    #: A login session ends after this many minutes without a request (idle timeout) ...
    session_idle_minutes: int = 30
    #: ... and in any case this many hours after the login (absolute lifetime).
    session_max_hours: int = 12
    #: Reverse proxies in front of the app that set X-Forwarded-For/-Proto (werkzeug ProxyFix); 0 = none, the
    #: headers are ignored. nginx in front of gunicorn is 1.
    proxy_hops: int = 0
    #: Milliseconds a transaction waits for a database lock before it gives up: SQLite ``busy_timeout``,
    #: PostgreSQL ``lock_timeout``. A web request then answers 503 "busy, nothing saved", a job runs again next time.
    db_busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    #: The environment these settings were read from (a snapshot): the domains' own settings (imaging, mail) are
    #: read from it by bootstrap, so no module but this one touches ``os.environ``.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        mode = env.get("TUMORBOARD_ENV", "production")
        if mode not in ("production", "development", "test"):
            raise ConfigurationError(
                N_("TUMORBOARD_ENV muss production, development oder test sein, nicht %(value)s"), value=mode
            )
        instance = Path(env.get("TUMORBOARD_INSTANCE_PATH", str(CHECKOUT / "instance"))).resolve()
        url = env.get("TUMORBOARD_DATABASE_URL") or f"sqlite:///{instance / 'tumorboard.sqlite'}"
        secret = env.get("TUMORBOARD_SECRET_KEY", "")
        if len(secret) < 32:
            if mode == "production":
                raise ConfigurationError(
                    N_(
                        "TUMORBOARD_SECRET_KEY fehlt oder ist kürzer als 32 Zeichen; ohne ihn startet der "
                        "Dienst im Produktionsbetrieb nicht."
                    )
                )
            secret = secret or "insecure-development-key-" + "x" * 16
        return cls(
            environ=dict(env),
            env=mode,
            instance_path=instance,
            database_url=url,
            secret_key=secret,
            cookie_secure=_flag(env.get("TUMORBOARD_COOKIE_SECURE"), default=mode == "production"),
            horizon_weeks=_int(env, "TUMORBOARD_HORIZON_WEEKS", 12),
            login_max_failures=_int(env, "TUMORBOARD_LOGIN_MAX_FAILURES", 5),
            login_window_minutes=_int(env, "TUMORBOARD_LOGIN_WINDOW_MINUTES", 15),
            log_level=env.get("TUMORBOARD_LOG_LEVEL", "INFO").upper(),
            session_idle_minutes=_int(env, "TUMORBOARD_SESSION_IDLE_MINUTES", 30),
            session_max_hours=_int(env, "TUMORBOARD_SESSION_MAX_HOURS", 12),
            proxy_hops=_int(env, "TUMORBOARD_PROXY_HOPS", 0, minimum=0),
            db_busy_timeout_ms=_int(env, "TUMORBOARD_DB_BUSY_TIMEOUT_MS", DEFAULT_BUSY_TIMEOUT_MS),
        )


def _flag(value: str | None, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(N_("%(name)s muss eine ganze Zahl sein"), name=name) from None
    if value < minimum:
        raise ConfigurationError(N_("%(name)s muss mindestens %(minimum)s sein"), name=name, minimum=minimum)
    return value
