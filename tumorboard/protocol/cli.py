"""``tumorboard protocol export SESSION_ID --out FILE.pdf``: the newest signed version as stored, else a draft."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def protocol() -> None:
    """Conference protocols."""


@protocol.command("export")
@click.argument("session_id", type=int)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export(session_id: int, out: Path) -> None:
    """Write the session protocol PDF (the signed one, byte for byte, when there is one)."""
    from tumorboard.cli_support import handles_errors, unit_of_work
    from tumorboard.conferences.services import get_session
    from tumorboard.exports.protocol import render_protocol_pdf
    from tumorboard.protocol.services import protocol_data, versions

    @handles_errors
    def run() -> None:
        with unit_of_work() as (rt, session):
            cs = get_session(session, session_id)
            found = versions(session, cs)
            if found:
                body, what = found[-1].pdf, f"Version {found[-1].version}, SHA-256 {found[-1].sha256}"
            else:
                body, what = (
                    render_protocol_pdf(
                        protocol_data(session, cs), templates=rt.templates, generated_at=rt.clock.now()
                    ),
                    "Entwurf",
                )
        out.write_bytes(body)
        click.echo(f"Protokoll ({what}) → {out}")

    run()
