"""The ``tumorboard`` command: admin and cron entry points. Each domain's commands live here in groups.

Exit codes: 0 ok, 1 not found / conflict / permission, 2 invalid input or configuration, 75 (EX_TEMPFAIL) the
database stayed busy past the timeout and nothing was saved — run the command again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

import click
from sqlalchemy.orm import Session

from tumorboard.access.cli import members
from tumorboard.attendance.cli import attendance
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import Role
from tumorboard.bootstrap import Runtime
from tumorboard.cli_support import handles_errors, iso_date, runtime, unit_of_work
from tumorboard.cme.cli import cme
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.conferences.outcome import Outcome
from tumorboard.dbfaults import EXIT_BUSY, install_log_scrubber, involves_database, is_busy
from tumorboard.errors import InvalidInput
from tumorboard.exports.cli import agenda
from tumorboard.i18n import N_, translate
from tumorboard.imaging.cli import imaging
from tumorboard.imaging.mail.cli import mail
from tumorboard.partners.cli import partners
from tumorboard.patients.cli import patients
from tumorboard.protocol.cli import protocol
from tumorboard.qm.cli import qm
from tumorboard.registry.cli import obds
from tumorboard.supervisor import restore_default_signals

log = logging.getLogger(__name__)


class _Main(click.Group):
    """The root group, the CLI's process boundary for database faults: a database that stays busy past the
    timeout ends the command with a clear message and :data:`EXIT_BUSY`; any other database fault is logged
    without the values it carried (the driver's message may quote them) and exits 1 — never a raw traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        install_log_scrubber()
        try:
            return super().invoke(ctx)
        except Exception as err:
            if not involves_database(err):
                raise
            if is_busy(err):
                click.echo(translate(BUSY_MESSAGE), err=True)
                raise SystemExit(EXIT_BUSY) from None
            log.exception("command %s failed: database error", ctx.invoked_subcommand)
            raise SystemExit(1) from None


BUSY_MESSAGE = N_("Die Datenbank ist gerade ausgelastet – nichts wurde gespeichert, bitte erneut versuchen.")


@click.group(cls=_Main)
def main() -> None:
    """Tumorkonferenzen: Konferenzkalender, Anmeldung, Bildeingang, Protokoll."""
    # A shell starts background jobs with SIGINT ignored, and the ignore survives exec: without this, Ctrl-C or
    # SIGINT could never stop a listener or scheduler started that way (issue 16).
    restore_default_signals()


# The domains' own groups (each in <domain>/cli.py; they take their helpers from cli_support, never from here).
for _group in (agenda, attendance, cme, imaging, mail, members, obds, partners, patients, protocol, qm):
    main.add_command(_group)


# --- db ------------------------------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@handles_errors
def db_upgrade() -> None:
    """Migrate the database to the newest schema (Alembic ``upgrade head``)."""
    from tumorboard.migrate import upgrade

    upgrade(runtime().engine)
    click.echo("Datenbank ist auf dem neuesten Stand.")


# --- demo ----------------------------------------------------------------------------------------------------
@main.group()
def demo() -> None:
    """Demo data (synthetic)."""


@demo.command("load")
@handles_errors
def demo_load() -> None:
    """Load the nine boards, one user per role and synthetic patients — once."""
    from tumorboard.demo.data import load_demo

    with unit_of_work() as (rt, session):
        loaded = load_demo(
            session,
            at=rt.clock.now(),
            actor=CLI,
            horizon_weeks=rt.settings.horizon_weeks,
            history=True,
            templates=rt.templates,
            imaging_storage=rt.imaging.storage_path,
        )
    click.echo("Demodaten geladen." if loaded else "Demodaten sind schon vorhanden; nichts geändert.")


# --- auth ----------------------------------------------------------------------------------------------------
@main.group()
def auth() -> None:
    """Accounts."""


@auth.command("create-user")
@click.option("--username", required=True)
@click.option("--display-name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--discipline", help="Fachrichtung (required for physicians)")
@click.option("--efn", help="15-digit Einheitliche Fortbildungsnummer")
@click.option("--email")
@click.password_option(help="Read from the prompt, or from stdin when not a terminal")
@handles_errors
def create_user_cmd(
    username: str,
    display_name: str,
    role: str,
    discipline: str | None,
    efn: str | None,
    email: str | None,
    password: str,
) -> None:
    """Create a local account."""
    from tumorboard.auth.services import create_user

    with unit_of_work() as (rt, session):
        user = create_user(
            session,
            username=username,
            display_name=display_name,
            password=password,
            role=role,
            discipline=discipline,
            efn=efn,
            email=email,
            at=rt.clock.now(),
            actor=CLI,
        )
    click.echo(f"Benutzer {user.username} angelegt (id {user.id}).")


# --- sessions and calendar -----------------------------------------------------------------------------------
def _window(
    session: Session, rt: Runtime, board_name: str | None, first: dt.date, last_exclusive: dt.date
) -> tuple[Board | None, list[ConferenceSession]]:
    if last_exclusive <= first:
        raise InvalidInput(N_("Das Ende des Zeitraums muss nach seinem Anfang liegen."))
    if (last_exclusive - first).days > 3 * 366:
        raise InvalidInput(N_("Der Zeitraum darf höchstens drei Jahre umfassen."))
    board = conf.find_board(session, board_name) if board_name else None
    # Sessions are generated on demand, idempotently, so that a requested range has stable UIDs.
    conf.generate_sessions(
        session, start=first, end=last_exclusive, at=rt.clock.now(), actor=CLI, boards=[board] if board else None
    )
    start, end = conf.day_range(first, last_exclusive)
    return board, list(conf.sessions_between(session, start, end, board=board))


@main.group()
def sessions() -> None:
    """Conference sessions."""


@sessions.command("list")
@click.option("--board", "board_name", help="short or full name of a board")
@click.option("--from", "first", required=True, callback=iso_date, help="YYYY-MM-DD")
@click.option("--to", "last", required=True, callback=iso_date, help="YYYY-MM-DD, inclusive")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per session, as a JSON array")
@handles_errors
def sessions_list(board_name: str | None, first: dt.date, last: dt.date, as_json: bool) -> None:
    """List sessions (Berlin dates, inclusive)."""
    with unit_of_work() as (rt, session):
        from tumorboard.qm.services import session_outcomes

        _, rows = _window(session, rt, board_name, first, last + dt.timedelta(days=1))
        outcomes = session_outcomes(session, rows, now=rt.clock.now())
        data = [session_json(cs, outcomes[cs.id]) for cs in rows]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for item in data:
        click.echo(
            f"{item['id']:>6}  {item['start'][:16].replace('T', ' ')}  {item['board']:<10} {item['status']:<10}"
            f" {item['outcome']}"
        )


def session_json(cs: ConferenceSession, outcome: Outcome) -> dict[str, Any]:
    """``status`` is the planning state (planned / cancelled / holiday) as before; ``outcome`` says what became of
    the session (issue 11): geplant, verschoben, abgesagt, feiertag, durchgeführt, protokolliert (with
    ``signed_at``), nicht dokumentiert."""
    return {
        "id": cs.id,
        "board": cs.board.short_name,
        "board_name": cs.board.name,
        "start": cs.local_start.isoformat(),
        "end": cs.local_end.isoformat(),
        "status": cs.status.value,
        "holiday": cs.holiday_name,
        "extra": cs.is_extra,
        "moved_from": cs.original_starts_at.astimezone(cs.local_start.tzinfo).isoformat()
        if cs.original_starts_at
        else None,
        "cancel_reason": cs.cancel_reason,
        "uid": cs.uid,
        "sequence": cs.sequence,
        "outcome": outcome.kind.value,
        "signed_at": outcome.at.astimezone(cs.local_start.tzinfo).isoformat() if outcome.at else None,
        "room": cs.room,
        "video_url": cs.video_url,
    }


@sessions.command("generate")
@click.option("--weeks", type=click.IntRange(1, 156), help="default: TUMORBOARD_HORIZON_WEEKS")
@handles_errors
def sessions_generate(weeks: int | None) -> None:
    """Generate the coming sessions of every board now (the scheduler does it hourly)."""
    from tumorboard.clock import today_berlin

    with unit_of_work() as (rt, session):
        today = today_berlin(rt.clock)
        created = conf.generate_sessions(
            session,
            start=today,
            end=today + dt.timedelta(weeks=weeks or rt.settings.horizon_weeks),
            at=rt.clock.now(),
            actor=CLI,
        )
    click.echo(f"{len(created)} Sitzungen angelegt.")


@main.group()
def calendar() -> None:
    """iCalendar export."""


@calendar.command("export")
@click.option("--board", "board_name", help="short or full name of a board; default: all boards")
@click.option("--from", "first", required=True, callback=iso_date, help="YYYY-MM-DD")
@click.option("--weeks", required=True, type=click.IntRange(1, 156))
@handles_errors
def calendar_export(board_name: str | None, first: dt.date, weeks: int) -> None:
    """Write the iCalendar of the sessions in that range to stdout."""
    from tumorboard.exports.ical import render_calendar

    with unit_of_work() as (rt, session):
        board, rows = _window(session, rt, board_name, first, first + dt.timedelta(weeks=weeks))
        name = f"Tumorkonferenz {board.short_name}" if board else "Tumorkonferenzen"
        body = render_calendar(rows, name=name, generated_at=rt.clock.now())
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()


# --- processes -----------------------------------------------------------------------------------------------
@main.group()
def jobs() -> None:
    """Background jobs."""


@jobs.command("run")
def jobs_run() -> None:
    """Run the scheduler in the foreground (one per installation, never inside web workers)."""
    from tumorboard.scheduler import run_scheduler

    run_scheduler(runtime())


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def run_all(host: str, port: int) -> None:
    """Start web server (gunicorn), scheduler, DICOM listener and, with a mailbox configured, the mail poller
    together, for one machine (``make run``): one that dies is started again, the others keep serving. Ctrl-C stops
    all."""
    from tumorboard.supervisor import GRACE, Child, supervise

    rt = runtime()  # fail early on bad configuration
    gunicorn = [
        sys.executable, "-m", "gunicorn",
        "--config", "python:tumorboard.web.gunicorn_conf",  # access log without feed tokens
        "--bind", f"{host}:{port}", "--workers", "2", "--access-logfile", "-",
        "--graceful-timeout", str(int(GRACE) - 2),  # requests finish before the supervisor's SIGKILL
        "app:app",
    ]  # fmt: skip
    raise SystemExit(
        supervise(
            [
                Child("web", gunicorn),
                Child("scheduler", [sys.executable, "-m", "tumorboard", "jobs", "run"]),
                Child("listener", [sys.executable, "-m", "tumorboard", "imaging", "listen"]),
            ]
            + ([Child("mail", [sys.executable, "-m", "tumorboard", "mail", "poll"])] if rt.mail.mailboxes else [])
        )
    )
