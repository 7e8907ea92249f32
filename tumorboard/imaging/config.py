"""Imaging settings (``TUMORBOARD_DICOM_*``, ``TUMORBOARD_IMAGING_*``), read beside the core settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tumorboard.config import Settings
from tumorboard.errors import ConfigurationError
from tumorboard.i18n import N_
from tumorboard.partners.services import AE_TITLE_RE


@dataclass(frozen=True)
class ImagingSettings:
    #: Address the listener binds to; 127.0.0.1 unless a partner network must reach it.
    host: str
    port: int
    #: Our AE title; associations calling another one are rejected (and audited).
    ae_title: str
    #: Folder of the image store (incoming/, objects/, previews/); default: <instance>/imaging.
    storage_path: Path
    #: Days after the session at which a case was discussed before its images are deleted.
    retention_days: int
    #: Free space (MB) the store keeps in reserve: below it C-STORE answers Out of Resources (0xA700) rather
    #: than filling the disk (pynetdicom writes the incoming object before our handler runs).
    min_free_mb: int
    #: Seconds an instance waits for a locked or unavailable index database before C-STORE answers Out of
    #: Resources (0xA700); until then the sender simply waits.
    index_timeout_s: int

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> ImagingSettings:
        env = os.environ if environ is None else environ
        ae_title = env.get("TUMORBOARD_DICOM_AE_TITLE", "TUMORBOARD").strip()
        if not AE_TITLE_RE.match(ae_title):
            raise ConfigurationError(N_("TUMORBOARD_DICOM_AE_TITLE ist kein gültiger AE-Titel."))
        return cls(
            host=env.get("TUMORBOARD_DICOM_HOST", "127.0.0.1"),
            port=_int(env, "TUMORBOARD_DICOM_PORT", 11112, 1, 65535),
            ae_title=ae_title,
            storage_path=Path(env.get("TUMORBOARD_IMAGING_PATH") or settings.instance_path / "imaging").resolve(),
            retention_days=_int(env, "TUMORBOARD_IMAGING_RETENTION_DAYS", 30, 1, 3650),
            min_free_mb=_int(env, "TUMORBOARD_IMAGING_MIN_FREE_MB", 1024, 0, 10_000_000),
            index_timeout_s=_int(env, "TUMORBOARD_IMAGING_INDEX_TIMEOUT", 30, 1, 3600),
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
