"""``tumorboard agenda``: the agenda (Tagesordnung) of a session as PDF or CSV, for scripts and cron.

    tumorboard agenda export 4711 --format pdf --out tagesordnung.pdf
    tumorboard agenda export --board Viszeral --date 2026-11-24 --format csv --out tagesordnung.csv

Prints the newest frozen version, or the live draft before the deadline. The file goes exactly where ``--out``
says (written atomically); nothing about the patients is printed or logged.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import click
from sqlalchemy.orm import Session

from tumorboard.cli_support import handles_errors, iso_date, unit_of_work
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import ConferenceSession
from tumorboard.errors import Conflict, InvalidInput, NotFound
from tumorboard.i18n import N_


@click.group()
def agenda() -> None:
    """Agenda (Tagesordnung) of a session."""


def find_session(
    session: Session, session_id: int | None, board_name: str | None, day: dt.date | None
) -> ConferenceSession:
    """The session named by its id, or by board and Berlin date (exactly one of the two ways)."""
    if session_id is not None:
        if board_name or day:
            raise InvalidInput(N_("Bitte entweder SESSION_ID oder --board und --date angeben, nicht beides."))
        return conf.get_session(session, session_id)
    if not (board_name and day):
        raise InvalidInput(N_("Bitte SESSION_ID oder --board und --date angeben."))
    board = conf.find_board(session, board_name)
    start, end = conf.day_range(day, day + dt.timedelta(days=1))
    found = list(conf.sessions_between(session, start, end, board=board))
    if not found:
        raise NotFound(
            N_("Am %(date)s gibt es keine Sitzung der Konferenz %(board)s."),
            date=day.strftime("%d.%m.%Y"),
            board=board.short_name,
        )
    if len(found) > 1:
        raise Conflict(
            N_("Am %(date)s hat %(board)s mehrere Sitzungen (%(ids)s); bitte die SESSION_ID angeben."),
            date=day.strftime("%d.%m.%Y"),
            board=board.short_name,
            ids=", ".join(str(cs.id) for cs in found),
        )
    return found[0]


def write_atomically(target: Path, data: bytes) -> None:
    directory = target.parent if str(target.parent) else Path()
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-agenda-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@agenda.command("export")
@click.argument("session_id", type=int, required=False)
@click.option("--board", "board_name", help="short or full name of a board (with --date)")
@click.option("--date", "day", callback=iso_date, help="YYYY-MM-DD, the session's day (Berlin)")
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv"]), required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
@click.option("--locale", type=click.Choice(["de", "en"]), default="de", show_default=True)
@handles_errors
def agenda_export(
    session_id: int | None, board_name: str | None, day: dt.date | None, fmt: str, out: Path, locale: str
) -> None:
    """Write the agenda of a session (SESSION_ID, or --board and --date) as PDF/A or CSV to --out."""
    from tumorboard.exports.downloads import agenda_download

    if not out.parent.is_dir():
        raise InvalidInput(N_("Das Verzeichnis für --out gibt es nicht."))
    with unit_of_work() as (rt, session):
        cs = find_session(session, session_id, board_name, day)
        download = agenda_download(
            session,
            cs,
            fmt="pdf" if fmt == "pdf" else "csv",
            locale=locale,
            at=rt.clock.now(),
            imaging_store=rt.store if fmt == "pdf" else None,
            templates=rt.templates,
        )
    write_atomically(out, download.body)
    agenda = download.agenda
    version = f"Version {agenda.version}" if agenda.version is not None else "Entwurf"
    cases = sum(1 for e in agenda.entries if e.number is not None)
    click.echo(f"Tagesordnung von Sitzung {cs.id} geschrieben: {out} ({version}, {cases} Fälle).")
