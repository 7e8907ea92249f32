"""The oBDS 3.0.4 document: built from plain data (no database here) and validated against the official schema
with lxml. A document that does not validate is never returned as exportable: :func:`render` raises instead.

Decisions that are inferences (the NRW registry's guidance on conference reports was not available):
- ``Meldeanlass``: a pre-therapeutic conference reports "diagnose", a post-operative/post-therapeutic one
  "behandlungsende", therapy planning "behandlungsbeginn" (the schema requires one; the conference has no
  occasion of its own).
- A correction is the same ``Meldung_ID`` sent again with the new content, and an ``Anmerkung`` saying what it
  replaces (oBDS 3 has no correction flag; the registry replaces a Meldung by its ID).
- ``Tumor_ID`` is the three-character ICD-10 category (one tumour per site and patient).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from lxml import etree

from tumorboard.registry.config import RegistrySettings

NS = "http://www.basisdatensatz.de/oBDS/XML"
SCHEMA_VERSION = "3.0.4"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "oBDS_v3.0.4.xsd"

#: Tumorkonferenz/Meldeanlass per conference type (see the module docstring).
OCCASION = {"praeth": "diagnose", "postop": "behandlungsende", "postth": "behandlungsende", "ther": "behandlungsbeginn"}
#: Primaertumor_ICD/Code as the schema allows it.
TUMOR_ICD_RE = re.compile(r"[CD]\d\d(\.\d\d?)?|M72\.4")
#: Our ICD-10-GM input: code, optional marker (+ * !), optional laterality (R L B) — "C50.4 L".
#: "Element '{ns}Geschlecht': ..." / "Element '{ns}Absender', attribute 'Absender_ID': ..." in lxml's messages.
ELEMENT_RE = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'(?:, attribute '([^']+)')?")
CASE_ICD_RE = re.compile(r"^(?P<code>[A-Z]\d{2}(?:\.\d{1,2})?)[+*!]?(?: ?(?P<side>[RLB]))?$")


@dataclass(frozen=True)
class MeldungData:
    meldung_id: str
    conference_id: str
    conference_date: dt.date
    conference_type: str
    therapy_types: tuple[str, ...]
    #: Abweichung_Patientenwunsch: J, N or U.
    patient_wish: str
    icd_code: str
    icd_version: str
    diagnosis_date: dt.date
    side: str | None = None
    morphology: str | None = None
    #: For a correction: the Anmerkung naming what it replaces.
    note: str | None = None


@dataclass
class PatientData:
    patient_id: str
    family_name: str
    given_name: str
    sex: str
    birth_date: dt.date
    iknr: str
    insurance_number: str | None
    meldungen: list[MeldungData] = field(default_factory=list)


class InvalidDocument(Exception):
    """The generated document does not validate against the schema; ``errors`` name line, path and kind of each
    failure, never the offending value (which may be patient data)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} schema errors")
        self.errors = errors


def split_icd(code: str) -> tuple[str, str | None] | None:
    """``("C50.4", "L")`` from our ``"C50.4 L"``; None when it is no tumour code the registry takes."""
    found = CASE_ICD_RE.match(code.strip())
    if found is None or not TUMOR_ICD_RE.fullmatch(found["code"]):
        return None
    return found["code"], found["side"]


def _el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{NS}}}{name}", **attrs)
    if text is not None:
        node.text = text
    return node


def _date(parent: etree._Element, name: str, value: dt.date, accuracy: str = "E") -> None:
    _el(parent, name, value.isoformat(), Datumsgenauigkeit=accuracy)


def _insurance(parent: etree._Element, p: PatientData) -> None:
    if p.iknr.startswith("10") and p.insurance_number:
        gkv = _el(parent, "Versichertendaten_GKV")
        _el(gkv, "IKNR", p.iknr)
        _el(gkv, "GKV_Versichertennummer", p.insurance_number)
    elif re.fullmatch(r"16\d{7}|950\d{6}", p.iknr):
        pkv = _el(parent, "Versichertendaten_PKV")
        _el(pkv, "IKNR", p.iknr)
        if p.insurance_number:
            _el(pkv, "PKV_Versichertennummer", p.insurance_number)
    else:
        other = _el(parent, "Versichertendaten_Sonstige")
        _el(other, "IKNR", p.iknr)
        if p.insurance_number:
            _el(other, "Versichertennummer", p.insurance_number)


def build(
    patients: list[PatientData], *, settings: RegistrySettings, reported_on: dt.date, software_version: str
) -> bytes:
    """The oBDS document (UTF-8, with XML declaration) for ``patients``; not yet validated."""
    root = etree.Element(f"{{{NS}}}oBDS", nsmap={None: NS}, Schema_Version=SCHEMA_VERSION)
    sender = _el(
        root,
        "Absender",
        Absender_ID=settings.sender_id or settings.melder_id,
        Software_ID="tumorboard",
        Software_Version=software_version,
    )
    if settings.melder_name:
        _el(sender, "Bezeichnung", settings.melder_name)
    _el(root, "Meldedatum", reported_on.isoformat())
    everyone = _el(root, "Menge_Patient")
    for p in patients:
        node = _el(everyone, "Patient", Patient_ID=p.patient_id)
        master = _el(node, "Patienten_Stammdaten")
        _insurance(master, p)
        _el(master, "Nachname", p.family_name)
        _el(master, "Vornamen", p.given_name)
        _el(master, "Geschlecht", p.sex)
        _date(master, "Geburtsdatum", p.birth_date)
        _el(master, "Adresse")
        reports = _el(node, "Menge_Meldung")
        for m in p.meldungen:
            report = _el(reports, "Meldung", Meldung_ID=m.meldung_id, Melder_ID=settings.melder_id)
            _el(report, "Meldebegruendung", settings.reason)
            _el(report, "Eigene_Leistung", "J")
            tumour = _el(report, "Tumorzuordnung", Tumor_ID=m.icd_code[:3])
            icd = _el(tumour, "Primaertumor_ICD")
            _el(icd, "Code", m.icd_code)
            _el(icd, "Version", m.icd_version)
            _date(tumour, "Diagnosedatum", m.diagnosis_date)
            if m.side:
                _el(tumour, "Seitenlokalisation", m.side)
            conference = _el(report, "Tumorkonferenz", Tumorkonferenz_ID=m.conference_id)
            _el(conference, "Meldeanlass", OCCASION[m.conference_type])
            _date(conference, "Datum", m.conference_date)
            _el(conference, "Typ", m.conference_type)
            if m.therapy_types:
                advice = _el(conference, "Therapieempfehlung")
                codes = _el(advice, "Menge_Typ_Therapieempfehlung")
                for code in m.therapy_types:
                    _el(codes, "Typ_Therapieempfehlung", code)
                _el(advice, "Abweichung_Patientenwunsch", m.patient_wish)
            if m.note:
                _el(report, "Anmerkung", m.note)
    melders = _el(root, "Menge_Melder")
    melder = _el(melders, "Melder", ID=settings.melder_id)
    if settings.melder_name:
        _el(melder, "KH_Abt_Station_Praxis", settings.melder_name)
    if settings.melder_physician:
        _el(melder, "Arztname", settings.melder_physician)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    """The official schema, parsed once on first use (not at import)."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def validation_errors(body: bytes) -> list[str]:
    """Line, element path and error kind of each schema violation (no values); empty when valid."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    document = etree.fromstring(body, parser).getroottree()
    checker = schema()
    if checker.validate(document):
        return []
    return [f"Zeile {e.line}: {_element_name(e.message)} ({e.type_name})" for e in checker.error_log]


def _element_name(message: str) -> str:
    """The element (or attribute) an lxml message is about, without the value it quotes."""
    found = ELEMENT_RE.search(message)
    if found is None:
        return "-"
    return f"{found[1]}/@{found[2]}" if found[2] else found[1]


def render(
    patients: list[PatientData], *, settings: RegistrySettings, reported_on: dt.date, software_version: str
) -> bytes:
    """Build and validate; raises :class:`InvalidDocument` rather than return a document the registry would
    refuse."""
    body = build(patients, settings=settings, reported_on=reported_on, software_version=software_version)
    errors = validation_errors(body)
    if errors:
        raise InvalidDocument(errors)
    return body
