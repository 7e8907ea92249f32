"""Factories for test data (services underneath, so the data is valid and audited like real data)."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.auth.services import create_user
from tumorboard.conferences.models import Board, QuorumKind
from tumorboard.conferences.quorum import QuorumSpec
from tumorboard.conferences.services import BoardInput, create_board

_seq = itertools.count(1)


def board_input(**overrides: object) -> BoardInput:
    n = next(_seq)
    values: dict[str, object] = {
        "name": f"Testkonferenz {n}",
        "short_name": f"Test{n}",
        "center": "Testzentrum",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "series_start": dt.date(2026, 1, 6),
        "start_time": dt.time(15, 15),
        "duration_minutes": 60,
        "room": "Raum 1",
        "video_url": "https://video.example.org/t",
        "quorum": [QuorumSpec(QuorumKind.ALL_OF, ("Radiologie", "Pathologie"))],
    }
    values.update(overrides)
    return BoardInput(**values)  # type: ignore[arg-type]


def make_board(session: Session, at: dt.datetime, **overrides: object) -> Board:
    return create_board(session, board_input(**overrides), at=at, actor=CLI)


def make_user(session: Session, at: dt.datetime, role: str = "coordinator", **kw: str) -> User:
    n = next(_seq)
    return create_user(
        session,
        username=kw.pop("username", f"user{n}"),
        display_name=f"Test User {n}",
        password=kw.pop("password", "correct horse battery"),
        role=role,
        at=at,
        actor=CLI,
        discipline=kw.pop("discipline", "Radiologie" if role == "physician" else None),
        **kw,
    )
