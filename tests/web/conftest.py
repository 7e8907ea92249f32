"""A fresh database with the demo loaded, served by real gunicorn processes (tests/live.py): SQLite in the first
run of ``make test``, PostgreSQL in its second."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PG_ADMIN_URL
from tests.live import LiveDatabase


@pytest.fixture(scope="session")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDatabase]:
    with LiveDatabase.create(tmp_path_factory.mktemp("live"), PG_ADMIN_URL) as db:
        db.prepare()
        yield db
