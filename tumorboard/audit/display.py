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
    "arrived_at": N_("Ankunft"),
    "board": N_("Konferenz"),
    "case_id": N_("Fall"),
    "cases": N_("Fälle"),
    "deadline_time": N_("Anmeldeschluss: Uhrzeit"),
    "deadline_working_days": N_("Anmeldeschluss: Arbeitstage vorher"),
    "discipline": N_("Fachrichtung"),
    "disposition": N_("Entscheidung"),
    "duration_minutes": N_("Dauer (Minuten)"),
    "ends_at": N_("Ende"),
    "external": N_("extern"),
    "holiday_name": N_("Feiertag"),
    "holiday_policy": N_("An Feiertagen (NRW)"),
    "icd10": N_("ICD-10"),
    "late": N_("Nachmeldung"),
    "left_at": N_("Gegangen"),
    "mode": N_("Teilnahme"),
    "name": N_("Name"),
    "order": N_("Reihenfolge"),
    "position": N_("Platz"),
    "presenter_id": N_("Vorstellung"),
    "quorum": N_("Quorum"),
    "returned": N_("zurückgekehrt"),
    "room": N_("Raum"),
    "rrule": N_("Wiederholung"),
    "self": N_("selbst eingecheckt"),
    "session_id": N_("Sitzung"),
    "stands_in_for_discipline": N_("vertritt (Fachrichtung)"),
    "starts_at": N_("Beginn"),
    "status": N_("Status"),
    "target_session_id": N_("Zielsitzung"),
    "therapy_types": N_("Therapiearten"),
    "type": N_("Art"),
    "user_id": N_("Person"),
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
