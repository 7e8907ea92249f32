"""A small held session for attendance and protocol tests: one board with an "all of" and a "one of" quorum
group, four physicians, three cases, and the clock at the session's start."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tests.cases.factories import register, upcoming_sessions
from tests.factories import make_board, make_user
from tumorboard.access.models import BoardRole
from tumorboard.access.services import add_default_members, set_member
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.auth.services import actor_for
from tumorboard.cases.models import Case
from tumorboard.clock import FixedClock
from tumorboard.conferences.models import Board, ConferenceSession, QuorumKind
from tumorboard.conferences.quorum import QuorumSpec
from tumorboard.protocol.services import RecommendationInput

PASSWORD = "correct horse battery"
#: A valid EFN (Luhn) for tests.
EFN = "802761234567896"


@dataclass
class Scenario:
    board: Board
    cs: ConferenceSession
    cases: list[Case]
    coordinator: User
    radiologist: User
    pathologist: User
    oncologist: User
    gastro: User
    clock: FixedClock

    def actor(self, user: User) -> object:
        return actor_for(user)


def build(session: Session, clock: FixedClock) -> Scenario:
    at = clock.now()
    board = make_board(
        session,
        at,
        quorum=[
            QuorumSpec(QuorumKind.ALL_OF, ("Radiologie", "Pathologie")),
            QuorumSpec(QuorumKind.ONE_OF, ("Hämatologie/Onkologie", "Gastroenterologie")),
        ],
    )
    coordinator = make_user(session, at, "coordinator")
    radiologist = make_user(session, at, "physician", discipline="Radiologie", efn=EFN)
    pathologist = make_user(session, at, "physician", discipline="Pathologie")
    oncologist = make_user(session, at, "physician", discipline="Hämatologie/Onkologie")
    gastro = make_user(session, at, "physician", discipline="Gastroenterologie")
    cs = upcoming_sessions(session, board, at)[0]
    cases = [register(session, board, at=at, by=radiologist, target=cs, question=f"Frage {i}") for i in range(1, 4)]
    # the radiologist moderates, the gastroenterologist is a deputy, everyone of a quorum discipline is a member
    add_default_members(session, board, at=at, actor=CLI)
    set_member(session, board, radiologist, BoardRole.MODERATOR, at=at, actor=CLI)
    set_member(session, board, gastro, BoardRole.DEPUTY, at=at, actor=CLI)
    session.flush()
    clock.current = cs.starts_at
    return Scenario(board, cs, cases, coordinator, radiologist, pathologist, oncologist, gastro, clock)


def rec_input(**overrides: object) -> RecommendationInput:
    values: dict[str, object] = {"therapy_types": ["OP", "CH"], "text": "Resektion, danach adjuvante Chemotherapie."}
    values.update(overrides)
    return RecommendationInput(**values)  # type: ignore[arg-type]


def minutes(scenario: Scenario, n: int) -> dt.datetime:
    return scenario.cs.starts_at + dt.timedelta(minutes=n)
