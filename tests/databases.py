"""Databases for tests, made from templates so that a migration or a data load runs once per test run, not once per
test: an SQLite file is copied with SQLite's backup API; PostgreSQL copies a database itself
(``CREATE DATABASE … TEMPLATE …``, a file-level copy). The copy is what the template's migrations and loads left,
byte for byte, so a test sees the same schema and data as if it had built them itself."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from tumorboard.db import make_engine
from tumorboard.migrate import upgrade


@contextmanager
def new_database(tmp: Path, label: str, pg_admin_url: str | None, *, template: str | None = None) -> Iterator[str]:
    """The URL of a database of its own: an SQLite file in ``tmp``, or a new PostgreSQL database, dropped at the
    end. ``template`` (a URL made by this function) is copied into it."""
    if not pg_admin_url:
        path = tmp / f"{label}-{uuid.uuid4().hex[:8]}.sqlite"
        if template is not None:
            source = make_url(template).database
            assert source is not None
            with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(path)) as dst:
                src.backup(dst)  # a consistent copy, WAL included
        yield f"sqlite:///{path}"
        return
    name = f"tumorboard_{label}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            copy = f' TEMPLATE "{make_url(template).database}"' if template is not None else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass(frozen=True)
class Template:
    """A database built once (migrated, perhaps loaded) that nothing connects to any more: PostgreSQL refuses to
    copy a database that has sessions."""

    url: str
    tmp: Path
    pg_admin_url: str | None

    @classmethod
    @contextmanager
    def build(
        cls, tmp: Path, label: str, pg_admin_url: str | None, fill: Callable[[Engine], None] | None = None
    ) -> Iterator[Template]:
        """Migrated to head by the real migrations, then ``fill``\\ ed."""
        with new_database(tmp, f"{label}_template", pg_admin_url) as url:
            engine = make_engine(url)
            try:
                upgrade(engine)
                if fill is not None:
                    fill(engine)
            finally:
                engine.dispose()
            yield cls(url, tmp, pg_admin_url)

    @contextmanager
    def copy(self, tmp: Path | None = None, label: str = "copy") -> Iterator[str]:
        with new_database(tmp or self.tmp, label, self.pg_admin_url, template=self.url) as url:
            yield url
