"""``tumorboard qm``: quality-management exports on the command line (issue 11)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from tumorboard.auth.actors import CLI
from tumorboard.cli_support import handles_errors, iso_date, unit_of_work
from tumorboard.errors import InvalidInput
from tumorboard.i18n import N_
from tumorboard.qm.bundles import record_bundle
from tumorboard.qm.jobs import make_bundle
from tumorboard.qm.period import MAX_DAYS, Period, PeriodKind, year_period
from tumorboard.qm.services import resolve_boards


@click.group()
def qm() -> None:
    """Quality management: evidence bundles."""


@qm.command("bundle")
@click.option("--board", "board_name", required=True, help="short or full name of a board, or 'all'")
@click.option("--from", "first", required=True, callback=iso_date, help="YYYY-MM-DD")
@click.option("--to", "last", required=True, callback=iso_date, help="YYYY-MM-DD, inclusive")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
@handles_errors
def bundle_cmd(board_name: str, first: object, last: object, out: Path) -> None:
    """Write the audit evidence bundle (ZIP) of one board or all boards for a period; progress on stderr."""

    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    if last < first:
        raise InvalidInput(N_("Das Ende des Zeitraums liegt vor seinem Anfang."), field="to")
    if (last - first).days > MAX_DAYS:
        raise InvalidInput(N_("Der Zeitraum darf höchstens drei Jahre umfassen."), field="to")
    year = year_period(first.year)
    period = year if (first, last) == (year.first, year.last) else Period(first, last, PeriodKind.RANGE)
    tty = sys.stderr.isatty()

    def progress(step: str, done: int, total: int) -> None:
        line = f"{step}: {done}/{total}"
        click.echo(("\r" + line.ljust(60)) if tty else line, err=True, nl=not tty)

    with unit_of_work() as (rt, session):
        boards = resolve_boards(session, None if board_name.casefold() == "all" else board_name)
        now = rt.clock.now()
        written = make_bundle(
            session, boards=boards, period=period, now=now, templates=rt.templates, generated_by=CLI.label,
            target=out, progress=progress,
        )  # fmt: skip
        digest = written.sha256
        record_bundle(
            session, sha256=digest, size=written.size,
            board_id=boards[0].id if board_name.casefold() != "all" else None, period=period, job_id=None, at=now,
            actor=CLI,
        )  # fmt: skip
    if tty:
        click.echo(err=True)
    click.echo(f"Nachweispaket geschrieben: {out} ({written.size} Bytes, SHA-256 {digest})")
