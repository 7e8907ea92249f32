"""The oBDS export (issue 15) of the one-year test activity of issue 11: validates with lxml and with xmllint,
lists what it cannot export with the reason, leaves conferences after death out, logs every file, and exports an
amended recommendation again as a correction."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import func, insert, select, update

from tests.conftest import NOW, make_settings
from tests.factories import make_board, make_user
from tests.qm.activity import build_activity
from tumorboard.audit.models import AuditEvent
from tumorboard.bootstrap import bootstrap
from tumorboard.cases.models import Case
from tumorboard.cli import main
from tumorboard.patients.models import Patient
from tumorboard.protocol.models import Recommendation
from tumorboard.qm.period import year_period
from tumorboard.registry import obds
from tumorboard.registry.config import RegistrySettings
from tumorboard.registry.models import ObdsExport, ObdsExportItem

YEAR = year_period(2025)
XSD = Path(__file__).resolve().parents[2] / "tumorboard" / "registry" / "schema" / "oBDS_v3.0.4.xsd"
N = {"o": obds.NS}
MELDER = {"TUMORBOARD_OBDS_MELDER_ID": "KKN-0815", "TUMORBOARD_OBDS_MELDER_NAME": "Tumorzentrum Musterstadt"}


@pytest.fixture
def registry_runtime(tmp_path, database_url, engine, session_factory, clock):
    return bootstrap(
        make_settings(tmp_path, database_url, **MELDER), engine=engine, session_factory=session_factory, clock=clock
    )


def _signed_cases(session, built):
    """Cases of the activity with a locked (signed) recommendation, by conference time."""
    ids = [cs.id for cs in built.sessions]
    return list(
        session.scalars(
            select(Case)
            .where(Case.session_id.in_(ids))
            .where(Case.id.in_(select(Recommendation.case_id).where(Recommendation.locked_at.is_not(None))))
            .order_by(Case.session_id, Case.id)
        ).unique()
    )


@pytest.fixture
def year(db_session):
    """The one-year activity, made registry-ready: every patient insured, every case with a diagnosis date —
    except one case without diagnosis date, and one patient who died between two of their conferences."""
    weekly = make_board(db_session, NOW, series_start=dt.date(2024, 1, 2))
    monthly = make_board(db_session, NOW, series_start=dt.date(2024, 1, 3), rrule="FREQ=MONTHLY;BYDAY=1WE")
    clerk = make_user(db_session, NOW)
    built = build_activity(
        db_session, [weekly, monthly], first=YEAR.first, last=YEAR.last, clerk=clerk, at=NOW, max_cases=3
    )
    case_ids = select(Case.id).where(Case.session_id.in_([cs.id for cs in built.sessions]))
    db_session.execute(update(Case).where(Case.id.in_(case_ids)).values(diagnosis_date=dt.date(2024, 12, 2)))
    db_session.execute(
        update(Patient)
        .where(Patient.id.in_(select(Case.patient_id).where(Case.id.in_(case_ids))))
        .values(insurer_iknr="101575519", insurance_number="A123456780")
    )
    signed = _signed_cases(db_session, built)
    assert len(signed) > 50
    no_date, earlier, later = signed[3], signed[10], signed[-5]
    db_session.execute(update(Case).where(Case.id == no_date.id).values(diagnosis_date=None))
    # the patient of `earlier` is also presented at `later`, and died in between
    db_session.execute(update(Case).where(Case.id == later.id).values(patient_id=earlier.patient_id))
    death = later.session.starts_at.date() - dt.timedelta(days=1)
    assert earlier.session.starts_at.date() <= death
    db_session.execute(update(Patient).where(Patient.id == earlier.patient_id).values(date_of_death=death))
    db_session.commit()
    db_session.expire_all()
    return {"signed": signed, "no_date": no_date.id, "earlier": earlier.id, "later": later.id}


def _export(runtime, out: Path, *extra: str, first="2025-01-01", last="2025-12-31"):
    return CliRunner().invoke(
        main, ["obds", "export", "--from", first, "--to", last, "--out", str(out), *extra], obj=runtime
    )


def _meldungen(body: bytes) -> dict[str, etree._Element]:
    root = etree.fromstring(body)
    return {m.get("Meldung_ID"): m for m in root.iterfind(".//o:Meldung", N)}


def test_one_year_export_validates_and_lists_what_it_leaves_out(registry_runtime, db_session, year, tmp_path):
    out = tmp_path / "obds-2025.xml"
    result = _export(registry_runtime, out)
    assert result.exit_code == 0, result.output
    body = out.read_bytes()

    # lxml (the product's own check, repeated here) and xmllint from Debian's libxml2-utils
    assert obds.schema().validate(etree.fromstring(body).getroottree())
    lint = subprocess.run(
        ["xmllint", "--noout", "--schema", str(XSD), str(out)], capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stderr
    assert "validates" in lint.stderr

    meldungen = _meldungen(body)
    expected = {c.id for c in year["signed"]} - {year["no_date"], year["later"]}
    assert set(meldungen) == {f"KKN-0815-TK{case_id}" for case_id in expected}
    assert all(m.get("Melder_ID") == "KKN-0815" for m in meldungen.values())

    # the case without diagnosis date and the conference after death are named with their reason
    assert f"Fall {year['no_date']} " in result.stderr and "Diagnosedatum fehlt" in result.stderr
    assert f"Fall {year['later']} " in result.stderr and "nach dem Sterbedatum" in result.stderr
    assert f"KKN-0815-TK{year['earlier']}" in meldungen  # the conference before death is reported

    # one Meldung's content: conference, recommendation codes, tumour assignment with ICD version
    one = meldungen[f"KKN-0815-TK{year['earlier']}"]
    case = db_session.get(Case, year["earlier"])
    assert one.findtext("o:Tumorkonferenz/o:Typ", namespaces=N) == case.conference_type.value
    assert one.find("o:Tumorkonferenz/o:Datum", N).get("Datumsgenauigkeit") == "E"
    assert one.findtext(".//o:Typ_Therapieempfehlung", namespaces=N) == "OP"
    assert (
        one.findtext("o:Tumorzuordnung/o:Primaertumor_ICD/o:Version", namespaces=N)
        == f"10 {case.registered_at.year} GM"
    )
    assert one.findtext("o:Tumorzuordnung/o:Diagnosedatum", namespaces=N) == "2024-12-02"

    # the export log: file hash, who, which Meldungen; the audit event
    export = db_session.scalars(select(ObdsExport)).one()
    assert export.sha256 == hashlib.sha256(body).hexdigest() and export.created_by_name == "system:cli"
    assert {i.meldung_id for i in export.items} == set(meldungen)
    assert not any(i.is_correction for i in export.items)
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "registry:obds:export")).one()
    assert event.after["sha256"] == export.sha256 and event.after["meldungen"] == len(meldungen)


def test_amendment_after_export_is_exported_as_correction(registry_runtime, db_session, year, tmp_path):
    first = tmp_path / "first.xml"
    assert _export(registry_runtime, first).exit_code == 0
    target = year["earlier"]
    rev1 = db_session.scalars(select(Recommendation).where(Recommendation.case_id == target)).one()
    db_session.execute(
        insert(Recommendation),
        [{"case_id": target, "session_id": rev1.session_id, "revision": 2, "therapy_types": ["ST", "CH"],
          "text": "Radiochemotherapie", "recorded_at": NOW, "recorded_by_id": rev1.recorded_by_id,
          "updated_at": NOW, "amendment_reason": "Nachtrag", "locked_at": NOW}],
    )  # fmt: skip
    db_session.commit()

    second = tmp_path / "second.xml"
    result = _export(registry_runtime, second)
    assert result.exit_code == 0, result.output
    assert "davon 1 Korrekturen" in result.output
    body = second.read_bytes()
    assert obds.schema().validate(etree.fromstring(body).getroottree())
    meldung = _meldungen(body)[f"KKN-0815-TK{target}"]  # the same Meldung_ID as in the first export
    assert [e.text for e in meldung.iterfind(".//o:Typ_Therapieempfehlung", N)] == ["ST", "CH"]
    assert "Korrektur" in meldung.findtext("o:Anmerkung", namespaces=N)
    assert target not in {
        int(m.get("Meldung_ID").rsplit("TK", 1)[1])
        for m in _meldungen(first.read_bytes()).values()
        if m.find("o:Anmerkung", N) is not None
    }
    items = db_session.scalars(select(ObdsExportItem).where(ObdsExportItem.case_id == target)).all()
    assert [(i.revision, i.is_correction) for i in sorted(items, key=lambda i: i.id)] == [(1, False), (2, True)]
    assert db_session.scalar(select(func.count()).where(ObdsExportItem.is_correction.is_(True))) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2025-12-31", "--to", "2025-01-01"), "Das Ende des Zeitraums liegt vor seinem Anfang."),
        (("--from", "2020-01-01", "--to", "2025-12-31"), "höchstens drei Jahre"),
    ],
)
def test_bad_range_german_message_nothing_written(registry_runtime, db_session, year, tmp_path, args, message):
    out = tmp_path / "x.xml"
    result = CliRunner().invoke(main, ["obds", "export", *args, "--out", str(out)], obj=registry_runtime)
    assert result.exit_code == 2 and message in result.stderr
    assert not out.exists()
    assert db_session.scalar(select(func.count()).select_from(ObdsExport)) == 0


def test_without_melder_id_nothing_written(runtime, db_session, year, tmp_path):
    out = tmp_path / "x.xml"
    result = _export(runtime, out)
    assert result.exit_code == 2 and "TUMORBOARD_OBDS_MELDER_ID fehlt" in result.stderr
    assert not out.exists()


def test_invalid_document_is_refused():
    settings = RegistrySettings(melder_id="KKN-0815")
    patient = obds.PatientData("P1", "Muster", "Test", "Q", dt.date(1950, 1, 1), "101575519", "A123456780")
    with pytest.raises(obds.InvalidDocument) as err:
        obds.render([patient], settings=settings, reported_on=dt.date(2026, 1, 5), software_version="t")
    assert any("Geschlecht" in e for e in err.value.errors)
    assert not any("'Q'" in e for e in err.value.errors)  # no values in the errors


def test_patient_outside_the_schema_is_listed_not_fatal(registry_runtime, db_session, year, tmp_path):
    victim = db_session.get(Case, year["signed"][0].id).patient_id
    db_session.execute(update(Patient).where(Patient.id == victim).values(family_name="王"))
    db_session.commit()
    out = tmp_path / "y.xml"
    result = _export(registry_runtime, out)
    assert result.exit_code == 0, result.output
    assert "Angaben entsprechen nicht dem oBDS-Schema" in result.stderr
    assert "王" not in result.stderr
    assert obds.schema().validate(etree.fromstring(out.read_bytes()).getroottree())
