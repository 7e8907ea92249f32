"""The patient's registry fields (issue 15): IKNR, insurance number, date of death — checked, audited, and a
refused input changes nothing (service and command line)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.cases.factories import make_patient
from tests.conftest import NOW
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.cli import main
from tumorboard.errors import InvalidInput
from tumorboard.patients.models import Patient
from tumorboard.patients.services import update_registry_data


def _update(session, patient, **kw):
    values = {"insurer_iknr": "101575519", "insurance_number": "A123456780", "date_of_death": None, **kw}
    return update_registry_data(session, patient, at=NOW, actor=CLI, **values)


def test_registry_data_saved_and_audited_without_values(db_session):
    patient = make_patient(db_session, NOW)
    _update(db_session, patient, insurance_number="a 123456780", date_of_death=dt.date(2026, 10, 1))
    assert (patient.insurer_iknr, patient.insurance_number) == ("101575519", "A123456780")
    assert patient.date_of_death == dt.date(2026, 10, 1)
    event = db_session.scalars(
        select(AuditEvent).where(
            AuditEvent.tag == "patient:patient:registry_data", AuditEvent.subject_id == str(patient.id)
        )
    ).one()
    assert event.after == {"changed": ["date_of_death", "insurance_number", "insurer_iknr"]}
    assert "101575519" not in str(event.after)


@pytest.mark.parametrize(
    ("kw", "field", "message"),
    [
        ({"insurer_iknr": "10157551X"}, "insurer_iknr", "genau 9 Ziffern"),
        ({"insurer_iknr": "1015755"}, "insurer_iknr", "genau 9 Ziffern"),
        ({"insurance_number": "1234567890"}, "insurance_number", "Großbuchstaben und 9 Ziffern"),
        ({"insurer_iknr": "", "insurance_number": "A123456780"}, "insurer_iknr", "braucht das IKNR"),
        ({"date_of_death": dt.date(2027, 1, 1)}, "date_of_death", "Zukunft"),
        ({"date_of_death": dt.date(1950, 1, 1)}, "date_of_death", "vor dem Geburtsdatum"),
    ],
)
def test_bad_registry_data_refused_in_german_nothing_changed(db_session, kw, field, message):
    patient = make_patient(db_session, NOW)
    before = db_session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    with pytest.raises(InvalidInput) as err:
        _update(db_session, patient, **kw)
    assert err.value.field == field and message in err.value.message
    assert (patient.insurer_iknr, patient.insurance_number, patient.date_of_death) == (None, None, None)
    assert db_session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) == before


def test_cli_iknr_with_letters_german_message_nothing_changed(runtime, db_session):
    patient = make_patient(db_session, NOW, patient_number="KIS-REG-1")
    db_session.commit()
    runner = CliRunner()
    bad = runner.invoke(main, ["patients", "registry", "KIS-REG-1", "--iknr", "10AB75519"], obj=runtime)
    assert bad.exit_code == 2
    assert "Das Institutionskennzeichen (IKNR) der Krankenkasse besteht aus genau 9 Ziffern." in bad.stderr
    db_session.expire_all()
    assert db_session.get(Patient, patient.id).insurer_iknr is None

    ok = runner.invoke(
        main,
        ["patients", "registry", "KIS-REG-1", "--iknr", "101575519", "--insurance-number", "A123456780",
         "--date-of-death", "2026-09-30"],
        obj=runtime,
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    db_session.expire_all()
    stored = db_session.get(Patient, patient.id)
    assert (stored.insurer_iknr, stored.insurance_number, stored.date_of_death) == (
        "101575519", "A123456780", dt.date(2026, 9, 30),
    )  # fmt: skip
    cleared = runner.invoke(main, ["patients", "registry", "KIS-REG-1", "--date-of-death", "-"], obj=runtime)
    assert cleared.exit_code == 0
    db_session.expire_all()
    assert db_session.get(Patient, patient.id).date_of_death is None
    assert db_session.get(Patient, patient.id).insurer_iknr == "101575519"


def test_case_page_form_saves_registry_data_and_refuses_letters(client, db_session, demo):
    from tests.conftest import csrf_from, login
    from tumorboard.cases.models import Case

    case = db_session.scalars(select(Case).order_by(Case.id)).first()
    login(client, "koordination")
    page = client.get(f"/cases/{case.id}")
    assert 'id="registry-form"' in page.text
    token = csrf_from(page.text)
    bad = client.post(f"/cases/{case.id}/registry", data={"csrf_token": token, "insurer_iknr": "10AB75519"})
    assert bad.status_code == 422
    assert "Das Institutionskennzeichen (IKNR) der Krankenkasse besteht aus genau 9 Ziffern." in bad.text
    db_session.expire_all()
    assert db_session.get(Patient, case.patient_id).insurer_iknr is None
    ok = client.post(
        f"/cases/{case.id}/registry",
        data={"csrf_token": token, "insurer_iknr": "101575519", "insurance_number": "A123456780"},
    )
    assert ok.status_code == 303
    db_session.expire_all()
    assert db_session.get(Patient, case.patient_id).insurance_number == "A123456780"
