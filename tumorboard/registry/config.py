"""Registry settings (``TUMORBOARD_OBDS_*``), read beside the core settings: who reports (Menge_Melder) and who
sends (Absender). Without a Melder ID the export refuses to run (a document without a reporter is not accepted)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tumorboard.config import Settings
from tumorboard.errors import ConfigurationError
from tumorboard.i18n import N_

#: oBDS Meldebegruendung: I informed and no objection, A exception, D physician without patient contact.
REASONS = ("I", "A", "D")


@dataclass(frozen=True)
class RegistrySettings:
    #: Melder/@ID: the reporter's ID at the registry (the leading physician or the organising institution).
    melder_id: str = ""
    #: KH_Abt_Station_Praxis and Arztname of the Melder, as the registry knows them.
    melder_name: str = ""
    melder_physician: str = ""
    #: Absender/@Absender_ID; the Melder ID when not set.
    sender_id: str = ""
    #: Meldebegruendung of every Meldung (the patient was informed and did not object: I).
    reason: str = "I"

    @property
    def configured(self) -> bool:
        return bool(self.melder_id)

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> RegistrySettings:
        env = settings.environ if environ is None else environ
        melder_id = env.get("TUMORBOARD_OBDS_MELDER_ID", "").strip()
        if melder_id and not re.fullmatch(r"[A-Za-z0-9._-]{1,30}", melder_id):
            raise ConfigurationError(
                N_("TUMORBOARD_OBDS_MELDER_ID darf nur Buchstaben, Ziffern und . _ - enthalten (höchstens 30).")
            )
        reason = env.get("TUMORBOARD_OBDS_MELDEBEGRUENDUNG", "I").strip().upper()
        if reason not in REASONS:
            raise ConfigurationError(N_("TUMORBOARD_OBDS_MELDEBEGRUENDUNG muss I, A oder D sein."))
        return cls(
            melder_id=melder_id,
            melder_name=env.get("TUMORBOARD_OBDS_MELDER_NAME", "").strip()[:255],
            melder_physician=env.get("TUMORBOARD_OBDS_MELDER_ARZT", "").strip()[:255],
            sender_id=env.get("TUMORBOARD_OBDS_ABSENDER_ID", "").strip()[:50] or melder_id,
            reason=reason,
        )
