"""``tumorboard patients``: the registry fields of a patient (issue 15), for admins and imports."""

from __future__ import annotations

import datetime as dt

import click

from tumorboard.auth.actors import CLI
from tumorboard.cli_support import handles_errors, iso_date, unit_of_work
from tumorboard.i18n import N_, translate
from tumorboard.patients.services import get_patient_by_number, update_registry_data

#: Given as an option value, clears the field.
CLEAR = "-"


@click.group()
def patients() -> None:
    """Patients: registry data."""


@patients.command("registry")
@click.argument("patient_number")
@click.option("--iknr", default=None, help="IKNR of the health insurer (9 digits); '-' clears it")
@click.option("--insurance-number", default=None, help="insurance number (a letter and 9 digits); '-' clears it")
@click.option("--date-of-death", default=None, help="YYYY-MM-DD; '-' clears it")
@handles_errors
def registry_cmd(
    patient_number: str, iknr: str | None, insurance_number: str | None, date_of_death: str | None
) -> None:
    """Set the insurer's IKNR, the insurance number and the date of death of a patient (options not given stay
    as they are). Everything is checked first: a refused value changes nothing."""
    death: dt.date | None
    with unit_of_work() as (rt, session):
        patient = get_patient_by_number(session, patient_number)
        if date_of_death is None:
            death = patient.date_of_death
        elif date_of_death == CLEAR:
            death = None
        else:
            death = iso_date(click.get_current_context(), click.Option(["--date-of-death"]), date_of_death)
        update_registry_data(
            session,
            patient,
            insurer_iknr=patient.insurer_iknr if iknr is None else ("" if iknr == CLEAR else iknr),
            insurance_number=(
                patient.insurance_number
                if insurance_number is None
                else ("" if insurance_number == CLEAR else insurance_number)
            ),
            date_of_death=death,
            at=rt.clock.now(),
            actor=CLI,
        )
    click.echo(translate(N_("Registerangaben gespeichert.")))
