"""What every ``tumorboard`` command uses: the runtime of the invocation, a unit of work, the mapping of our
exceptions to exit codes, and the ISO date option.

The root group (:mod:`tumorboard.cli`) and the domains' groups (``<domain>/cli.py``) import this module; it imports
none of them, so the root can register the domains' groups at the top of its module without an import cycle.

Exit codes: 0 ok, 1 not found / conflict / permission, 2 invalid input or configuration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.orm import Session

from tumorboard.bootstrap import Runtime, bootstrap
from tumorboard.errors import ConfigurationError, InvalidInput, TumorboardError
from tumorboard.i18n import translate

F = TypeVar("F", bound=Callable[..., Any])


def fail(err: TumorboardError) -> NoReturn:
    """Print ``err`` in German on stderr and exit with its code (2 for invalid input or configuration, else 1)."""
    click.echo(translate(err.message, **err.params), err=True)
    raise SystemExit(2 if isinstance(err, InvalidInput | ConfigurationError) else 1)


def handles_errors(func: F) -> F:
    """Turn a :class:`TumorboardError` raised by a command into its message and exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TumorboardError as err:
            fail(err)

    return wrapper  # type: ignore[return-value]


def runtime() -> Runtime:
    """The invocation's :class:`Runtime`, bootstrapped on first use (tests pass their own as the root ``obj``)."""
    ctx = click.get_current_context()
    obj = ctx.find_root().obj
    if obj is None:
        try:
            obj = bootstrap()
        except TumorboardError as err:
            fail(err)
        ctx.find_root().obj = obj
    assert isinstance(obj, Runtime)
    return obj


@contextmanager
def unit_of_work() -> Iterator[tuple[Runtime, Session]]:
    """A session that commits when the block ends without an exception (services never commit)."""
    rt = runtime()
    with rt.session_factory() as session:
        yield rt, session
        session.commit()


def iso_date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    """Click callback for ``YYYY-MM-DD`` options."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} ist kein Datum im Format JJJJ-MM-TT") from None
