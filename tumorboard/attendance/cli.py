"""``tumorboard attendance export SESSION_ID --format pdf|csv --out FILE``."""

from __future__ import annotations

from pathlib import Path

import click

from tumorboard.attendance.services import list_attendance


@click.group()
def attendance() -> None:
    """Attendance lists (Teilnehmerliste)."""


@attendance.command("export")
@click.argument("session_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv"]), default="pdf", show_default=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export(session_id: int, fmt: str, out: Path) -> None:
    """Write the attendance list of a session as PDF/A or CSV."""
    from tumorboard.cli_support import handles_errors, unit_of_work
    from tumorboard.conferences.services import get_session
    from tumorboard.exports.attendance import render_attendance_csv, render_attendance_pdf

    @handles_errors
    def run() -> None:
        with unit_of_work() as (rt, session):
            cs = get_session(session, session_id)
            rows = list_attendance(session, cs)
            body = (
                render_attendance_pdf(cs, rows, templates=rt.templates, generated_at=rt.clock.now())
                if fmt == "pdf"
                else render_attendance_csv(rows)
            )
        out.write_bytes(body)
        click.echo(f"{len(rows)} Teilnehmende → {out}")

    run()
