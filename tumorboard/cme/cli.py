"""``tumorboard cme``: accreditation data and the chamber's report of a session (issue 15)."""

from __future__ import annotations

from pathlib import Path

import click

from tumorboard.auth.actors import CLI
from tumorboard.cli_support import handles_errors, iso_date, unit_of_work
from tumorboard.cme.services import cme_report, set_accreditation
from tumorboard.conferences.services import find_board, get_session
from tumorboard.errors import InvalidInput
from tumorboard.exports.cli import write_atomically
from tumorboard.i18n import N_, translate


@click.group()
def cme() -> None:
    """CME: accreditation (VNR) and the chamber's report."""


@cme.command("set")
@click.option("--board", "board_name", default=None, help="a board's defaults (short or full name)")
@click.option("--session", "session_id", type=int, default=None, help="one session's accreditation")
@click.option("--vnr", default=None, help="19 digits starting 276")
@click.option("--category", required=True, help="A–K (tumor boards: usually C)")
@click.option("--points", type=int, required=True)
@click.option("--valid-from", callback=iso_date, default=None, help="YYYY-MM-DD")
@click.option("--valid-to", callback=iso_date, default=None, help="YYYY-MM-DD")
@handles_errors
def set_cmd(
    board_name: str | None, session_id: int | None, vnr: str | None, category: str, points: int,
    valid_from: object, valid_to: object,
) -> None:  # fmt: skip
    """Store the accreditation letter's data for a board (defaults) or a session."""
    if (board_name is None) == (session_id is None):
        raise InvalidInput(N_("Bitte entweder eine Konferenz oder eine Sitzung angeben."), field="board")
    with unit_of_work() as (rt, session):
        board = find_board(session, board_name) if board_name else None
        cs = get_session(session, session_id) if session_id is not None else None
        _, warnings = set_accreditation(
            session, board=board, cs=cs, vnr=vnr, category=category, points=points,
            valid_from=valid_from, valid_to=valid_to, user=None, at=rt.clock.now(), actor=CLI,  # type: ignore[arg-type]
        )  # fmt: skip
    for warning in warnings:
        click.echo(translate(warning), err=True)
    click.echo(translate(N_("CME-Akkreditierung gespeichert.")))


@cme.command("report")
@click.argument("session_id", type=int)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@handles_errors
def report_cmd(session_id: int, out_dir: Path) -> None:
    """Write the chamber's CSV and the attendance list PDF of a session; list the physicians without EFN."""
    from tumorboard.exports.cme import render_cme_attendance_pdf, render_cme_csv

    with unit_of_work() as (rt, session):
        report = cme_report(session, get_session(session, session_id))
        csv_body = render_cme_csv(report)
        pdf_body = render_cme_attendance_pdf(report, templates=rt.templates, generated_at=rt.clock.now())
        without = [(a.name, a.discipline) for a in report.without_efn]
        counts = len(report.with_efn), report.deadlines.report_by
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(out_dir / f"cme-{session_id}.csv", csv_body)
    write_atomically(out_dir / f"cme-anwesenheit-{session_id}.pdf", pdf_body)
    click.echo(
        translate(
            N_("%(n)s Teilnehmende mit EFN; Meldung an die Ärztekammer bis %(day)s."),
            n=counts[0], day=counts[1].strftime("%d.%m.%Y"),
        )
    )  # fmt: skip
    for name, discipline in without:
        click.echo(translate(N_("ohne EFN (Papierbescheinigung): %(name)s (%(discipline)s)"), name=name,
                             discipline=discipline))  # fmt: skip


@cme.command("push")
@handles_errors
def push_cmd() -> None:
    """Queue and push the due EIV reports now (what the scheduler's ``cme.push_eiv`` does every 5 minutes)."""
    from tumorboard.cli_support import runtime
    from tumorboard.cme.jobs import push_eiv
    from tumorboard.errors import ConfigurationError

    rt = runtime()
    if not rt.eiv.enabled:
        raise ConfigurationError(
            N_("Die EIV-Meldung ist nicht eingerichtet (TUMORBOARD_EIV_BASE_URL, TUMORBOARD_EIV_PASSWORD_FILE).")
        )
    tried = push_eiv(rt)
    click.echo(translate(N_("%(n)s Meldungen versucht."), n=tried))


@cme.command("correct")
@click.argument("attendance_id", type=int)
@click.option("--withdraw/--credit", default=True, help="withdraw the attendance at the chamber, or report it again")
@click.option("--reason", required=True)
@handles_errors
def correct_cmd(attendance_id: int, withdraw: bool, reason: str) -> None:
    """Correct one attendance for the chamber: the next push withdraws it (or reports it again)."""
    from tumorboard.attendance.services import get_attendance
    from tumorboard.cme.submissions import correct_cme_attendance

    with unit_of_work() as (rt, session):
        correct_cme_attendance(
            session, get_attendance(session, attendance_id), credited=not withdraw, reason=reason,
            at=rt.clock.now(), actor=CLI,
        )  # fmt: skip
    click.echo(translate(N_("Korrektur vorgemerkt; sie wird mit der nächsten Meldung übertragen.")))


@cme.command("reconcile")
@click.argument("session_id", type=int)
@handles_errors
def reconcile_cmd(session_id: int) -> None:
    """Compare what we reported for a session with what the chambers hold; print the differences."""
    from tumorboard.cme.eiv import EivClient
    from tumorboard.cme.submissions import reconcile
    from tumorboard.errors import ConfigurationError

    with unit_of_work() as (rt, session):
        if not rt.eiv.enabled:
            raise ConfigurationError(
                N_("Die EIV-Meldung ist nicht eingerichtet (TUMORBOARD_EIV_BASE_URL, TUMORBOARD_EIV_PASSWORD_FILE).")
            )
        client = EivClient(rt.eiv.base_url, timeout_s=rt.eiv.timeout_s)
        differences = reconcile(session, client, rt.eiv.passwords(), get_session(session, session_id))
    for d in differences:
        click.echo(translate(N_("EFN %(efn)s: bei uns %(ours)s, bei der Kammer %(theirs)s"), efn=d.efn,
                             ours=translate(d.ours), theirs=translate(d.theirs)))  # fmt: skip
    if not differences:
        click.echo(translate(N_("Kein Unterschied zur Ärztekammer.")))
    else:
        raise SystemExit(1)
