"""The ``tumorboard`` command: admin and cron entry points. Each domain's commands live here in groups.

Exit codes: 0 ok, 1 not found / conflict / permission, 2 invalid input or configuration.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from tumorboard.auth.actors import CLI
from tumorboard.auth.models import Role
from tumorboard.bootstrap import Runtime, bootstrap
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import Board, ConferenceSession
from tumorboard.errors import ConfigurationError, InvalidInput, TumorboardError
from tumorboard.i18n import N_, translate

F = TypeVar("F", bound=Callable[..., Any])


def _fail(err: TumorboardError) -> None:
    click.echo(translate(err.message, **err.params), err=True)
    raise SystemExit(2 if isinstance(err, InvalidInput | ConfigurationError) else 1)


def handles_errors(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TumorboardError as err:
            _fail(err)

    return wrapper  # type: ignore[return-value]


def runtime() -> Runtime:
    ctx = click.get_current_context()
    obj = ctx.find_root().obj
    if obj is None:
        try:
            obj = bootstrap()
        except TumorboardError as err:
            _fail(err)
        ctx.find_root().obj = obj
    assert isinstance(obj, Runtime)
    return obj


@contextmanager
def unit_of_work() -> Iterator[tuple[Runtime, Session]]:
    rt = runtime()
    with rt.session_factory() as session:
        yield rt, session
        session.commit()


@click.group()
def main() -> None:
    """Tumorkonferenzen: Konferenzkalender, Anmeldung, Bildeingang, Protokoll."""


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
def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} ist kein Datum im Format JJJJ-MM-TT") from None


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
@click.option("--from", "first", required=True, callback=_date, help="YYYY-MM-DD")
@click.option("--to", "last", required=True, callback=_date, help="YYYY-MM-DD, inclusive")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per session, as a JSON array")
@handles_errors
def sessions_list(board_name: str | None, first: dt.date, last: dt.date, as_json: bool) -> None:
    """List sessions (Berlin dates, inclusive)."""
    with unit_of_work() as (rt, session):
        _, rows = _window(session, rt, board_name, first, last + dt.timedelta(days=1))
        data = [session_json(cs) for cs in rows]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for item in data:
        click.echo(f"{item['id']:>6}  {item['start'][:16].replace('T', ' ')}  {item['board']:<10} {item['status']}")


def session_json(cs: ConferenceSession) -> dict[str, Any]:
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
@click.option("--from", "first", required=True, callback=_date, help="YYYY-MM-DD")
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
    together, for one machine (``make run``). Ctrl-C stops all."""
    rt = runtime()  # fail early on bad configuration
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "python:tumorboard.web.gunicorn_conf",  # access log without feed tokens
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
                "app:app",
            ]
        ),
        subprocess.Popen([sys.executable, "-m", "tumorboard", "jobs", "run"]),
        subprocess.Popen([sys.executable, "-m", "tumorboard", "imaging", "listen"]),
    ]
    if rt.mail.mailboxes:  # DICOM E-Mail intake, when a mailbox is configured
        procs.append(subprocess.Popen([sys.executable, "-m", "tumorboard", "mail", "poll"]))
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.3)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    code = 0 if stopping else 1
    if not stopping:
        click.echo("Ein Prozess hat sich beendet; alle gestoppt.", err=True)
    raise SystemExit(code)


# --- domain groups (imported last: they use the helpers above) ---------------------------------------------------
from tumorboard.exports.cli import agenda  # noqa: E402
from tumorboard.imaging.cli import imaging  # noqa: E402
from tumorboard.imaging.mail.cli import mail  # noqa: E402
from tumorboard.partners.cli import partners  # noqa: E402

main.add_command(agenda)
main.add_command(imaging)
main.add_command(mail)
main.add_command(partners)

from tumorboard.attendance.cli import attendance  # noqa: E402
from tumorboard.protocol.cli import protocol  # noqa: E402

main.add_command(attendance)
main.add_command(protocol)
