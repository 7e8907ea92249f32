"""Re-authentication before a signature is throttled and audited like the login, on the same counters."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from tests.conftest import login
from tests.protocol.scenario import PASSWORD
from tests.protocol.test_views import _check_in_all, _live, _post, _record
from tumorboard.audit.models import AuditEvent
from tumorboard.protocol.models import ProtocolVersion


def test_wrong_passwords_when_signing_are_counted_audited_and_slowed(client, db_session, scenario, clock):
    sc = scenario
    db_session.commit()
    login(client, sc.radiologist.username, PASSWORD)
    _check_in_all(client, sc)
    assert _record(client, sc, sc.cases[0].id)[0] == 200
    sign = f"/sessions/{sc.cs.id}/protocol/sign"
    for _ in range(5):
        status, page = _post(client, _live(sc), sign, {"password": "falsch"})
        assert status == 422 and "Das Passwort ist falsch" in page
    # the sixth try waits, even with the right password; nothing is signed
    status, page = _post(client, _live(sc), sign, {"password": PASSWORD})
    assert status == 403 and "Zu viele fehlgeschlagene Anmeldungen. Bitte in 30 Sekunden" in page
    assert db_session.scalar(select(func.count(ProtocolVersion.id))) == 0
    tags = db_session.scalars(
        select(AuditEvent.tag).where(AuditEvent.subject_type == "user", AuditEvent.subject_id == str(sc.radiologist.id))
    ).all()
    assert tags.count("auth:reauth:failure") == 5 and tags.count("auth:reauth:throttled") == 1
    clock.advance(dt.timedelta(seconds=31))
    status, page = _post(client, _live(sc), sign, {"password": PASSWORD})
    assert status == 200 and "Protokoll unterschrieben (Version 1)." in page
    assert "auth:reauth:success" in db_session.scalars(select(AuditEvent.tag)).all()
