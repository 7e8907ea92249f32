"""EIV settings (``TUMORBOARD_EIV_*``), read beside the core settings. The client stays off until a base URL and
a password file are configured. The VNR passwords (from the accreditation letters) are kept outside the database,
in a file readable by the service's user only: one line per VNR, ``VNR PASSWORD`` (``#`` starts a comment)."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tumorboard.config import Settings
from tumorboard.errors import ConfigurationError
from tumorboard.i18n import N_

#: Plain HTTP only to this machine (the tests' local stand-in of the chambers' service); else HTTPS.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class EivSettings:
    #: The chambers' EIV base URL, e.g. https://portal.example-aek.de (without /fobi/…); "" = client off.
    base_url: str = ""
    #: File with one ``VNR PASSWORD`` per line (mode 0600 or stricter).
    password_file: Path | None = None
    #: Seconds per HTTP request.
    timeout_s: int = 15

    @property
    def enabled(self) -> bool:
        return bool(self.base_url) and self.password_file is not None

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> EivSettings:
        env = settings.environ if environ is None else environ
        base = env.get("TUMORBOARD_EIV_BASE_URL", "").strip().rstrip("/")
        if base:
            parts = urlsplit(base)
            if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS):
                raise ConfigurationError(N_("TUMORBOARD_EIV_BASE_URL muss eine https-Adresse sein."))
        file = env.get("TUMORBOARD_EIV_PASSWORD_FILE", "").strip()
        raw_timeout = env.get("TUMORBOARD_EIV_TIMEOUT_S", "15")
        if not (raw_timeout.isascii() and raw_timeout.isdigit()) or not 1 <= int(raw_timeout) <= 120:
            raise ConfigurationError(N_("TUMORBOARD_EIV_TIMEOUT_S muss eine ganze Zahl von 1 bis 120 sein."))
        return cls(base_url=base, password_file=Path(file) if file else None, timeout_s=int(raw_timeout))

    def passwords(self) -> dict[str, str]:
        """VNR → password, read on every use (a new letter needs no restart). A file others may read is refused."""
        if self.password_file is None:
            return {}
        try:
            mode = os.stat(self.password_file).st_mode
            text = self.password_file.read_text(encoding="utf-8")
        except OSError:
            raise ConfigurationError(N_("Die Passwortdatei der EIV (TUMORBOARD_EIV_PASSWORD_FILE) fehlt.")) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigurationError(N_("Die Passwortdatei der EIV darf nur für den Dienst lesbar sein (chmod 600)."))
        out: dict[str, str] = {}
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            vnr, _, password = line.partition(" ")
            if vnr and password.strip():
                out[vnr] = password.strip()
        return out
