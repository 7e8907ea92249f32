"""How the audit log shows an event's values to a reader (issue 13): German labels for the fields, local times,
values rendered as words — never a Python literal (``None``, ``True``, ``['CI', 'OP']``).

Pure: the web layer translates the labels and links the ids. The stored JSON stays as written."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from tumorboard.clock import BERLIN
from tumorboard.i18n import N_

#: Field names used in before/after, with the German label the log shows; unknown names are shown as stored.
FIELD_LABELS: dict[str, str] = {
    "accession_number": N_("Accession Number"),
    "address": N_("Adresse"),
    "ae_title": N_("AE-Titel"),
    "arrived_at": N_("Ankunft"),
    "board": N_("Konferenz"),
    "board_id": N_("Konferenz"),
    "case_id": N_("Fall"),
    "case_ids": N_("Fälle (Nummern)"),
    "cases": N_("Fälle"),
    "category": N_("Kategorie"),
    "center": N_("Zentrum"),
    "changed": N_("geändert"),
    "conference_type": N_("Art der Vorstellung"),
    "deadline_time": N_("Anmeldeschluss: Uhrzeit"),
    "deadline_working_days": N_("Anmeldeschluss: Arbeitstage vorher"),
    "deviation_reason": N_("Grund der Abweichung"),
    "discipline": N_("Fachrichtung"),
    "display_name": N_("Anzeigename"),
    "disposition": N_("Entscheidung"),
    "duration_minutes": N_("Dauer (Minuten)"),
    "ecog": N_("ECOG"),
    "efn": N_("EFN"),
    "emergency": N_("Notfallzugriff"),
    "emergency_access_id": N_("Notfallzugriff (Nummer)"),
    "ends_at": N_("Ende"),
    "expires_at": N_("gültig bis"),
    "external": N_("extern"),
    "from": N_("von"),
    "generated_key": N_("Schlüssel vom Server vergeben"),
    "guideline_deviation": N_("Leitlinienabweichung"),
    "holiday_name": N_("Feiertag"),
    "holiday_policy": N_("An Feiertagen (NRW)"),
    "icd10": N_("ICD-10"),
    "icd10_code": N_("ICD-10-GM"),
    "icd10_text": N_("Diagnose (Text)"),
    "icdo_morphology": N_("ICD-O-Morphologie"),
    "imaging_expected": N_("Externe Bildgebung wird erwartet"),
    "instance_count": N_("Bilder"),
    "items": N_("Checkliste"),
    "late": N_("Nachmeldung"),
    "left_at": N_("Gegangen"),
    "lines": N_("Zeilen"),
    "locale": N_("Sprache"),
    "method": N_("Zuordnung"),
    "mode": N_("Teilnahme"),
    "name": N_("Name"),
    "network": N_("Netz"),
    "order": N_("Reihenfolge"),
    "participants": N_("Beteiligte"),
    "partner_id": N_("Partner"),
    "points": N_("Punkte"),
    "position": N_("Platz"),
    "presenter_id": N_("Vorstellung"),
    "pseudonymised": N_("Fälle (pseudonymisiert)"),
    "query_length": N_("Länge der Suchanfrage"),
    "question": N_("Fragestellung"),
    "quiet_period_seconds": N_("Ruhezeit (Sekunden)"),
    "quorum": N_("Quorum"),
    "recommendations": N_("Empfehlungen"),
    "rejected_at": N_("abgelehnt am"),
    "representation_board_id": N_("Wiedervorstellung in Konferenz"),
    "representation_date": N_("Wiedervorstellung am"),
    "representation_wanted": N_("Wiedervorstellung"),
    "results": N_("Treffer"),
    "returned": N_("zurückgekehrt"),
    "revision": N_("Fassung"),
    "role": N_("Rolle"),
    "room": N_("Raum"),
    "rrule": N_("Wiederholung"),
    "self": N_("selbst eingecheckt"),
    "series_start": N_("Serie ab"),
    "session_id": N_("Sitzung"),
    "sha256": N_("SHA-256"),
    "short_name": N_("Kurzname"),
    "size": N_("Größe (Bytes)"),
    "stands_in_for_discipline": N_("vertritt (Fachrichtung)"),
    "start_time": N_("Beginn"),
    "starts_at": N_("Beginn"),
    "status": N_("Status"),
    "target_session_id": N_("Zielsitzung"),
    "text": N_("Text"),
    "therapy_types": N_("Therapiearten"),
    "tnm": N_("TNM"),
    "to": N_("bis"),
    "trial_name": N_("Studie"),
    "trial_recommended": N_("Studienteilnahme empfohlen"),
    "type": N_("Art"),
    "user_id": N_("Person"),
    "username": N_("Benutzername"),
    "version": N_("Version"),
    "video_url": N_("Videolink"),
    "vnr": N_("VNR"),
    "warnings": N_("Warnungen"),
}

#: Stored enum values shown as words.
VALUE_LABELS: dict[str, str] = {
    "planned": N_("geplant"),
    "cancelled": N_("abgesagt"),
    "holiday": N_("entfällt (Feiertag)"),
    "registered": N_("angemeldet"),
    "complete": N_("vollständig"),
    "discussed": N_("besprochen"),
    "withdrawn": N_("zurückgezogen"),
    "in_person": N_("vor Ort"),
    "video": N_("Video"),
    "praeth": N_("prätherapeutisch"),
    "postop": N_("postoperativ"),
    "postth": N_("posttherapeutisch"),
    "ther": N_("Therapieplanung"),
    "next": N_("auf die nächste Sitzung"),
    "chosen": N_("auf eine gewählte Sitzung"),
    "keep": N_("belassen"),
    "withdraw": N_("zurückgezogen"),
}

#: Fields whose value is the id of an object the log links to (subject type of the link).
LINKED_FIELDS = {"session_id": "session", "target_session_id": "session", "case_id": "case"}

_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Shown:
    """One value as the log shows it: ``text`` (a German source string when ``translate``), and an optional link."""

    text: str
    translate: bool = False
    link: tuple[str, int] | None = None  #: (subject type, id)


def show(key: str, value: Any) -> list[Shown]:
    """A stored value as words: "–" for nothing, "ja"/"nein", lists item by item, times in Berlin."""
    if value is None or value == "" or value == []:
        return [Shown("–")]
    if isinstance(value, bool):
        return [Shown(N_("ja") if value else N_("nein"), translate=True)]
    if isinstance(value, list):
        out: list[Shown] = []
        for item in value:
            if out:
                out.append(Shown(", "))
            out.extend(show(key, item))
        return out
    if isinstance(value, dict):
        parts: list[Shown] = []
        for k, v in value.items():
            if parts:
                parts.append(Shown("; "))
            label, translate = field_label(str(k))
            parts.append(Shown(label, translate=translate))
            parts.append(Shown(": "))
            parts.extend(show(str(k), v))
        return parts
    if isinstance(value, int) and key in LINKED_FIELDS:
        return [Shown(str(value), link=(LINKED_FIELDS[key], value))]
    text = str(value)
    if _INSTANT.match(text):
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(BERLIN)
        return [Shown(moment.strftime("%d.%m.%Y %H:%M"))]
    if _DAY.match(text):
        return [Shown(dt.date.fromisoformat(text).strftime("%d.%m.%Y"))]
    if text in VALUE_LABELS:
        return [Shown(VALUE_LABELS[text], translate=True)]
    return [Shown(text)]


def field_label(key: str) -> tuple[str, bool]:
    """The label of a field, and whether it is a German source string to translate."""
    return (FIELD_LABELS[key], True) if key in FIELD_LABELS else (key, False)
