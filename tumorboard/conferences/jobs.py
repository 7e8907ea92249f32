"""Background jobs of the conferences domain."""

from __future__ import annotations

import datetime as dt
import logging

from tumorboard.auth.actors import SCHEDULER
from tumorboard.bootstrap import Runtime
from tumorboard.clock import today_berlin
from tumorboard.conferences.services import generate_sessions

log = logging.getLogger(__name__)


def generate_upcoming_sessions(runtime: Runtime) -> int:
    """Keep concrete sessions ``horizon_weeks`` ahead for every active board (idempotent)."""
    now = runtime.clock.now()
    today = today_berlin(runtime.clock)
    with runtime.session_factory() as session:
        created = generate_sessions(
            session,
            start=today,
            end=today + dt.timedelta(weeks=runtime.settings.horizon_weeks),
            at=now,
            actor=SCHEDULER,
        )
        session.commit()
    log.info("generated %d sessions", len(created))
    return len(created)
