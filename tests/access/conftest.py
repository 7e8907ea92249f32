from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.protocol.scenario import Scenario, build
from tumorboard.clock import FixedClock


@pytest.fixture
def scenario(db_session: Session, clock: FixedClock) -> Scenario:
    return build(db_session, clock)
