"""``cme.push_eiv``: queue the reports of newly signed sessions and push what is due to the chambers' EIV
(issue 15). Does nothing until the EIV client is configured. Idempotent: the chamber keeps one record per EFN and
VNR, so a report pushed twice (crash between push and commit) is harmless."""

from __future__ import annotations

import logging

from tumorboard.auth.actors import SCHEDULER
from tumorboard.bootstrap import Runtime
from tumorboard.cme.eiv import EivClient
from tumorboard.cme.submissions import enqueue_signed, push_pending

log = logging.getLogger(__name__)


def push_eiv(runtime: Runtime) -> int:
    if not runtime.eiv.enabled:
        return 0
    passwords = runtime.eiv.passwords()
    client = EivClient(runtime.eiv.base_url, timeout_s=runtime.eiv.timeout_s)
    with runtime.session_factory() as session:
        enqueue_signed(session, at=runtime.clock.now())
        session.commit()
    tried = 0
    while True:  # short transactions: the requests of one batch run while it holds the write lock
        with runtime.session_factory() as session:
            rows = push_pending(session, client, passwords, at=runtime.clock.now(), actor=SCHEDULER)
            session.commit()
        tried += len(rows)
        if len(rows) < 20:
            log.info("eiv: %d reports tried", tried)
            return tried
