"""Mail intake settings (``TUMORBOARD_MAIL_*``), read beside the core settings by :func:`bootstrap`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tumorboard.config import Settings
from tumorboard.errors import ConfigurationError
from tumorboard.i18n import N_
from tumorboard.imaging.mail.mime import ZipLimits


@dataclass(frozen=True)
class Mailbox:
    """One IMAP mailbox to poll: ``imaps://user:password@host:993/INBOX`` (TLS) or
    ``imap+starttls://…:143/INBOX`` (STARTTLS). Plain ``imap://`` only for 127.0.0.1 (tests)."""

    #: Name used in the database and logs: user@host/folder (no password).
    name: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str
    #: "tls", "starttls" or "plain" (loopback only).
    security: str


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str
    user: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class MailSettings:
    mailboxes: tuple[Mailbox, ...]
    #: GnuPG home with our secret key and the partners' public keys: <instance>/mail/gnupg.
    gnupg_home: Path
    #: Where each fetched mail is kept, as received, before anything else happens: <instance>/mail/raw.
    raw_path: Path
    #: CA bundle for the IMAP/SMTP servers' certificates (None: the system's).
    cafile: Path | None
    processed_folder: str
    quarantine_folder: str
    #: Seconds between polls when the server offers no IDLE (and the longest an IDLE waits).
    interval_s: int
    #: Seconds after the first fragment of a message/partial set at which an incomplete set goes to quarantine.
    partial_timeout_s: int
    #: SMTP server for receipts (MDN); None: no receipts.
    smtp: Smtp | None
    #: Our address, the From of receipts.
    from_address: str
    #: Days a processed or discarded mail's raw file is kept after it was decided (quarantined ones: until then).
    raw_retention_days: int = 30
    zip_limits: ZipLimits = field(default_factory=ZipLimits)

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> MailSettings:
        env = settings.environ if environ is None else environ
        base = Path(env.get("TUMORBOARD_MAIL_PATH") or settings.instance_path / "mail").resolve()
        mailboxes = tuple(_mailbox(url) for url in env.get("TUMORBOARD_MAIL_IMAP_URLS", "").split())
        smtp_url = env.get("TUMORBOARD_MAIL_SMTP_URL", "").strip()
        cafile = env.get("TUMORBOARD_MAIL_CAFILE", "").strip()
        return cls(
            mailboxes=mailboxes,
            gnupg_home=base / "gnupg",
            raw_path=base / "raw",
            cafile=Path(cafile) if cafile else None,
            processed_folder=env.get("TUMORBOARD_MAIL_PROCESSED_FOLDER", "Processed"),
            quarantine_folder=env.get("TUMORBOARD_MAIL_QUARANTINE_FOLDER", "Quarantine"),
            interval_s=_int(env, "TUMORBOARD_MAIL_INTERVAL", 30, 1, 3600),
            partial_timeout_s=_int(env, "TUMORBOARD_MAIL_PARTIAL_TIMEOUT", 3600, 1, 7 * 86400),
            smtp=_smtp(smtp_url) if smtp_url else None,
            from_address=env.get("TUMORBOARD_MAIL_FROM", "tumorboard@localhost"),
            raw_retention_days=_int(env, "TUMORBOARD_MAIL_RAW_RETENTION_DAYS", 30, 1, 3650),
        )


_SECURITY = {"imaps": "tls", "imap+starttls": "starttls", "imap": "plain"}
_SMTP_SECURITY = {"smtps": "tls", "smtp+starttls": "starttls", "smtp": "plain"}


def _mailbox(url: str) -> Mailbox:
    parts = urlsplit(url)
    security = _SECURITY.get(parts.scheme)
    if security is None or not parts.hostname or not parts.username:
        raise ConfigurationError(N_("TUMORBOARD_MAIL_IMAP_URLS: erwartet imaps://benutzer:passwort@host[:port]/ordner"))
    if security == "plain" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigurationError(N_("TUMORBOARD_MAIL_IMAP_URLS: unverschlüsseltes IMAP nur auf 127.0.0.1"))
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    user = unquote(parts.username)
    return Mailbox(
        name=f"{user}@{parts.hostname}/{folder}"[:100],
        host=parts.hostname,
        port=parts.port or (993 if security == "tls" else 143),
        user=user,
        password=unquote(parts.password or ""),
        folder=folder,
        security=security,
    )


def _smtp(url: str) -> Smtp:
    parts = urlsplit(url)
    security = _SMTP_SECURITY.get(parts.scheme)
    if security is None or not parts.hostname:
        raise ConfigurationError(N_("TUMORBOARD_MAIL_SMTP_URL: erwartet smtp+starttls://host[:port]"))
    if security == "plain" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigurationError(N_("TUMORBOARD_MAIL_SMTP_URL: unverschlüsseltes SMTP nur auf 127.0.0.1"))
    return Smtp(
        host=parts.hostname,
        port=parts.port or (465 if security == "tls" else 587),
        security=security,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
    )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(N_("%(name)s muss eine ganze Zahl sein"), name=name) from None
    if not low <= value <= high:
        raise ConfigurationError(N_("%(name)s liegt außerhalb des erlaubten Bereichs"), name=name)
    return value
