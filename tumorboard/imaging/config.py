"""Imaging settings (``TUMORBOARD_DICOM_*``, ``TUMORBOARD_IMAGING_*``), read beside the core settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tumorboard.config import Settings
from tumorboard.errors import ConfigurationError
from tumorboard.i18n import N_
from tumorboard.partners.services import AE_TITLE_RE


@dataclass(frozen=True)
class AssociationLimits:
    """What keeps one peer from stalling the listener (issue 16): timeouts and how many connections may wait for
    their authorization. ``max_unauthorized`` stays below ``max_associations``, so registered partners always
    have at least the difference."""

    #: Seconds a connection has to complete its association request (else it is closed), and pynetdicom's
    #: network timeout: an association idle this long is aborted; a socket read or write waits at most this long.
    network_timeout: int = 30
    #: Seconds pynetdicom waits for an association message (A-ASSOCIATE, A-RELEASE) of the peer.
    acse_timeout: int = 30
    #: Seconds pynetdicom waits for the next DIMSE message of an exchange (e.g. the rest of a C-STORE).
    dimse_timeout: int = 60
    #: Associations at once, authorized or not (pynetdicom's ``maximum_associations``); beyond: A-ASSOCIATE-RJ
    #: "local limit exceeded".
    max_associations: int = 32
    #: Connections at once that have not (yet) been authorized, from all addresses; further ones are closed at
    #: once.
    max_unauthorized: int = 16
    #: The same per peer IP address.
    max_unauthorized_per_address: int = 4


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
    limits: AssociationLimits = field(default_factory=AssociationLimits)
    #: Processes that serve associations, the listener itself included (issue 16: pynetdicom and the header
    #: parse run under one interpreter lock per process). 1: the listener alone; default: one per CPU, at most 4.
    processes: int = 1

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> ImagingSettings:
        env = settings.environ if environ is None else environ
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
            limits=_limits(env),
            processes=_int(env, "TUMORBOARD_DICOM_WORKERS", default_processes(), 1, 64),
        )


def default_processes() -> int:
    """One association-serving process per CPU, at most 4 (beyond, the disk and the index's one writer bound)."""
    return max(1, min(os.cpu_count() or 1, 4))


def _limits(env: Mapping[str, str]) -> AssociationLimits:
    d = AssociationLimits()
    limits = AssociationLimits(
        network_timeout=_int(env, "TUMORBOARD_DICOM_NETWORK_TIMEOUT", d.network_timeout, 1, 3600),
        acse_timeout=_int(env, "TUMORBOARD_DICOM_ACSE_TIMEOUT", d.acse_timeout, 1, 3600),
        dimse_timeout=_int(env, "TUMORBOARD_DICOM_DIMSE_TIMEOUT", d.dimse_timeout, 1, 3600),
        max_associations=_int(env, "TUMORBOARD_DICOM_MAX_ASSOCIATIONS", d.max_associations, 2, 10_000),
        max_unauthorized=_int(env, "TUMORBOARD_DICOM_MAX_UNAUTHORIZED", d.max_unauthorized, 1, 10_000),
        max_unauthorized_per_address=_int(
            env, "TUMORBOARD_DICOM_MAX_UNAUTHORIZED_PER_ADDRESS", d.max_unauthorized_per_address, 1, 10_000
        ),
    )
    if limits.max_unauthorized >= limits.max_associations:
        raise ConfigurationError(
            N_("TUMORBOARD_DICOM_MAX_UNAUTHORIZED muss kleiner sein als TUMORBOARD_DICOM_MAX_ASSOCIATIONS.")
        )
    return limits


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
