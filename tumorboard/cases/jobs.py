"""Background jobs of the cases domain."""

from __future__ import annotations

import logging

from tumorboard.auth.actors import SCHEDULER
from tumorboard.bootstrap import Runtime
from tumorboard.cases.agenda import freeze_due_agendas

log = logging.getLogger(__name__)


def freeze_agendas(runtime: Runtime) -> int:
    """Freeze the agenda of every session whose registration deadline has passed as version 1 (idempotent:
    sessions that already have a version are left alone). Runs every five minutes, so an agenda is frozen at most
    five minutes after its deadline; registrations in between already go to the following session."""
    with runtime.session_factory() as session:
        frozen = freeze_due_agendas(session, at=runtime.clock.now(), actor=SCHEDULER)
        session.commit()
    log.info("froze %d agendas", frozen)
    return frozen
