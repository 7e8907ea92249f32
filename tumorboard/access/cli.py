"""``tumorboard members …``: board membership, moderator and deputies from the command line (audited as the CLI)."""

from __future__ import annotations

from collections.abc import Callable

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from tumorboard.access.models import BoardRole
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.conferences.models import Board
from tumorboard.errors import NotFound
from tumorboard.i18n import N_

ROLE_CHOICE = click.Choice([r.value for r in BoardRole])


def _board(session: Session, short_name: str) -> Board:
    board = session.scalar(select(Board).where(Board.short_name == short_name))
    if board is None:
        raise NotFound(N_("Diese Konferenz gibt es nicht."))
    return board


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound(N_("Benutzer nicht gefunden."))
    return user


def _in_unit_of_work(body: Callable[[Session], None]) -> None:
    """Run ``body`` in one transaction; domain errors become German messages and exit codes (tumorboard.cli)."""
    from tumorboard.cli_support import handles_errors, unit_of_work

    @handles_errors
    def run() -> None:
        with unit_of_work() as (_rt, session):
            body(session)

    run()


@click.group()
def members() -> None:
    """Physicians of a board, its moderator and deputies."""


@members.command("list")
@click.argument("board")
def list_members(board: str) -> None:
    """Members of BOARD (short name), moderator first."""
    from tumorboard.access.services import members_of

    def body(session: Session) -> None:
        for m in members_of(session, _board(session, board)):
            click.echo(f"{m.role.value:9} {m.user.username:20} {m.user.display_name}")

    _in_unit_of_work(body)


@members.command("set")
@click.argument("board")
@click.argument("username")
@click.option("--role", type=ROLE_CHOICE, default=BoardRole.MEMBER.value, show_default=True)
def set_role(board: str, username: str, role: str) -> None:
    """Add USERNAME to BOARD or change their role (a new moderator makes the old one a deputy)."""
    from tumorboard.access.services import set_member
    from tumorboard.cli_support import runtime

    def body(session: Session) -> None:
        row = set_member(session, _board(session, board), _user(session, username), role,
                         at=runtime().clock.now(), actor=CLI)  # fmt: skip
        click.echo(f"{row.user.username}: {row.role.value}")

    _in_unit_of_work(body)


@members.command("remove")
@click.argument("board")
@click.argument("username")
def remove(board: str, username: str) -> None:
    """Remove USERNAME from BOARD."""
    from tumorboard.access.services import remove_member
    from tumorboard.cli_support import runtime

    def body(session: Session) -> None:
        remove_member(session, _board(session, board), _user(session, username), at=runtime().clock.now(), actor=CLI)

    _in_unit_of_work(body)


@members.command("defaults")
@click.argument("board", required=False)
def defaults(board: str | None) -> None:
    """Add every physician of a quorum discipline to BOARD (or to every board); existing roles stay."""
    from tumorboard.access.services import add_default_members
    from tumorboard.cli_support import runtime

    def body(session: Session) -> None:
        boards = [_board(session, board)] if board else list(session.scalars(select(Board).order_by(Board.id)))
        for b in boards:
            added = add_default_members(session, b, at=runtime().clock.now(), actor=CLI)
            click.echo(f"{b.short_name}: {len(added)} neu")

    _in_unit_of_work(body)
