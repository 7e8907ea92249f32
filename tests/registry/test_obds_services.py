"""The oBDS export through the real protocol services (issue 15): record, sign, export; amend after export, and
the next export carries the new revision as a correction under the same Meldung_ID; the follow-up decides
Abweichung_Patientenwunsch; a recommendation not signed yet waits and is listed."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree
from sqlalchemy import select

from tests.protocol.scenario import PASSWORD, build, minutes, rec_input
from tumorboard.attendance import services as att
from tumorboard.auth.actors import CLI
from tumorboard.auth.services import actor_for
from tumorboard.errors import NotFound
from tumorboard.patients.services import update_registry_data
from tumorboard.protocol import services as proto
from tumorboard.registry import obds
from tumorboard.registry.config import RegistrySettings
from tumorboard.registry.models import ObdsExportItem
from tumorboard.registry.services import Reason, collect, export_obds

SETTINGS = RegistrySettings(melder_id="KKN-0815", melder_name="Tumorzentrum Musterstadt")
N = {"o": obds.NS}


def fake_pdf(data: proto.ProtocolData) -> bytes:
    return ("%PDF-1.7\n" + proto.protocol_text(data)).encode()


@pytest.fixture
def sc(db_session, clock):
    sc = build(db_session, clock)
    for u in (sc.radiologist, sc.pathologist, sc.oncologist):
        att.check_in(db_session, sc.cs, user=u, mode="in_person", recorded_by=sc.coordinator, signed=False,
                     at=minutes(sc, 0), actor=actor_for(sc.coordinator))  # fmt: skip
    for case in sc.cases:
        case.diagnosis_date = dt.date(2026, 10, 1)
        update_registry_data(db_session, case.patient, insurer_iknr="101575519", insurance_number="A123456780",
                             date_of_death=None, at=minutes(sc, 0), actor=CLI)  # fmt: skip
    sc.cases[0].icd10_code = "C50.4 L"
    return sc


def _export(db, sc, at):
    day = sc.cs.local_start.date()
    return export_obds(db, first=day, last=day, board=None, settings=SETTINGS, file_name="x.xml", user=None, at=at,
                       actor=CLI)  # fmt: skip


def _meldung(body: bytes, case_id: int) -> etree._Element:
    root = etree.fromstring(body)
    [found] = [m for m in root.iterfind(".//o:Meldung", N) if m.get("Meldung_ID") == f"KKN-0815-TK{case_id}"]
    return found


def test_sign_export_amend_export_gives_a_correction(db_session, sc):
    db = db_session
    for case in sc.cases[:2]:
        proto.record_recommendation(db, case, rec_input(), user=sc.coordinator, at=minutes(sc, 5),
                                    actor=actor_for(sc.coordinator))  # fmt: skip
    proto.sign_protocol(db, sc.cs, user=sc.radiologist, password=PASSWORD, render=fake_pdf, at=minutes(sc, 50),
                        actor=actor_for(sc.radiologist))  # fmt: skip
    proto.record_follow_up(db, sc.cases[0], status="deviated", cause="patient_wish", note=None, user=sc.coordinator,
                           at=minutes(sc, 60), actor=actor_for(sc.coordinator))  # fmt: skip

    first = _export(db, sc, minutes(sc, 70))
    assert {s.case_id: s.reason for s in first.skipped} == {}  # the third case has no recommendation at all
    m = _meldung(first.body, sc.cases[0].id)
    assert [e.text for e in m.iterfind(".//o:Typ_Therapieempfehlung", N)] == ["OP", "CH"]
    assert m.findtext(".//o:Abweichung_Patientenwunsch", namespaces=N) == "J"
    assert m.findtext("o:Tumorzuordnung/o:Primaertumor_ICD/o:Code", namespaces=N) == "C50.4"
    assert m.findtext("o:Tumorzuordnung/o:Seitenlokalisation", namespaces=N) == "L"
    assert _meldung(first.body, sc.cases[1].id).findtext(".//o:Abweichung_Patientenwunsch", namespaces=N) == "U"
    assert m.find("o:Anmerkung", N) is None

    proto.amend_recommendation(db, sc.cases[0], rec_input(therapy_types=["ST"], text="Radiatio statt OP"),
                               reason="Beschluss falsch übertragen", user=sc.radiologist, password=PASSWORD,
                               render=fake_pdf, at=minutes(sc, 120), actor=actor_for(sc.radiologist))  # fmt: skip
    second = _export(db, sc, minutes(sc, 130))
    m = _meldung(second.body, sc.cases[0].id)
    assert [e.text for e in m.iterfind(".//o:Typ_Therapieempfehlung", N)] == ["ST"]
    assert "Revision 1" in m.findtext("o:Anmerkung", namespaces=N)
    assert _meldung(second.body, sc.cases[1].id).find("o:Anmerkung", N) is None
    rows = db.scalars(select(ObdsExportItem).where(ObdsExportItem.export_id == second.export.id)).all()
    assert {(r.case_id, r.revision, r.is_correction) for r in rows} == {
        (sc.cases[0].id, 2, True), (sc.cases[1].id, 1, False),
    }  # fmt: skip


def test_unsigned_recommendation_is_listed_not_exported(db_session, sc):
    db = db_session
    proto.record_recommendation(db, sc.cases[0], rec_input(), user=sc.coordinator, at=minutes(sc, 5),
                                actor=actor_for(sc.coordinator))  # fmt: skip
    with pytest.raises(NotFound, match="keine meldefähige"):
        _export(db, sc, minutes(sc, 70))
    day = sc.cs.local_start.date()
    data = collect(db, first=day, last=day, board=None, settings=SETTINGS)
    assert [(s.case_id, s.reason) for s in data.skipped] == [(sc.cases[0].id, Reason.NOT_SIGNED)]
