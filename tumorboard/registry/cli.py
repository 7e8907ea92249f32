"""``tumorboard obds``: the oBDS export for the cancer registry on the command line (issue 15)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from tumorboard.auth.actors import CLI
from tumorboard.cli_support import handles_errors, iso_date, unit_of_work
from tumorboard.conferences.services import find_board
from tumorboard.errors import InvalidInput
from tumorboard.exports.cli import write_atomically
from tumorboard.i18n import N_, translate
from tumorboard.registry.obds import InvalidDocument
from tumorboard.registry.services import export_obds


@click.group()
def obds() -> None:
    """Cancer registry: oBDS 3.0.4 export of the conference results."""


@obds.command("export")
@click.option("--from", "first", required=True, callback=iso_date, help="YYYY-MM-DD (conference date)")
@click.option("--to", "last", required=True, callback=iso_date, help="YYYY-MM-DD, inclusive")
@click.option("--board", "board_name", default=None, help="short or full name of a board (default: all)")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@handles_errors
def export_cmd(first: object, last: object, board_name: str | None, out: Path) -> None:
    """Write one Tumorkonferenz Meldung per signed recommendation of the period, validated against the oBDS
    3.0.4 schema; cases that cannot be exported are listed on stderr with their reason."""
    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    if last < first:  # before anything is opened: a reversed range changes nothing
        raise InvalidInput(N_("Das Ende des Zeitraums liegt vor seinem Anfang."), field="to")
    with unit_of_work() as (rt, session):
        board = find_board(session, board_name) if board_name else None
        try:
            result = export_obds(
                session, first=first, last=last, board=board, settings=rt.registry, file_name=out.name,
                user=None, at=rt.clock.now(), actor=CLI,
            )  # fmt: skip
        except InvalidDocument as err:
            click.echo(translate(N_("Die oBDS-Datei entspricht nicht dem Schema; nichts wurde geschrieben:")), err=True)
            for line in err.errors[:50]:
                click.echo(f"  {line}", err=True)
            raise SystemExit(1) from None
        write_atomically(out, result.body)
        for s in result.skipped:
            click.echo(
                translate(
                    N_("nicht gemeldet: Fall %(case)s (Sitzung %(session)s, %(date)s): %(reason)s"),
                    case=s.case_id, session=s.session_id, date=s.conference_date.strftime("%d.%m.%Y"),
                    reason=translate(s.reason),
                ),
                err=True,
            )  # fmt: skip
        export = result.export
        corrections = sum(1 for item in export.items if item.is_correction)
    click.echo(
        translate(
            N_("oBDS-Export geschrieben: %(out)s (%(n)s Meldungen, davon %(c)s Korrekturen, %(s)s nicht gemeldet; "
               "SHA-256 %(sha)s)"),
            out=str(out), n=len(export.items), c=corrections, s=len(result.skipped), sha=export.sha256,
        )
    )  # fmt: skip
