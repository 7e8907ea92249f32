"""The web side: the live page, bad input with clear German messages that changes nothing, the nonconformity,
signing, and that no route of the app can change a signed recommendation."""

from __future__ import annotations

import re

from sqlalchemy import func, select, text

from tests.conftest import csrf_from, login
from tests.protocol.scenario import EFN, PASSWORD, Scenario, minutes
from tumorboard.access.models import BoardRole
from tumorboard.access.services import set_member
from tumorboard.attendance.models import Attendance
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.protocol.models import ProtocolVersion, Recommendation


def _post(client, page: str, action: str, data: dict) -> tuple[int, str]:
    token = csrf_from(client.get(page).text)
    response = client.post(action, data={"csrf_token": token, **data}, follow_redirects=True)
    return response.status_code, response.text


def _live(sc: Scenario) -> str:
    return f"/sessions/{sc.cs.id}/live"


def _count(db, model) -> int:
    return db.scalar(select(func.count(model.id))) or 0


def _check_in_all(client, sc: Scenario) -> None:
    for user, mode in ((sc.radiologist, "video"), (sc.pathologist, "in_person"), (sc.oncologist, "in_person")):
        status, _ = _post(client, _live(sc), f"/sessions/{sc.cs.id}/attendance", {"user": user.id, "mode": mode})
        assert status == 200


def _record(client, sc: Scenario, case_id: int, **extra) -> tuple[int, str]:
    data = {"therapy_types": ["OP", "CH"], "text": "Resektion", "representation_board": "0", **extra}
    return _post(client, f"/cases/{case_id}/recommendation", f"/cases/{case_id}/recommendation", data)


def test_live_page_check_in_quorum_and_quorum_fragment(client, db_session, scenario):
    sc = scenario
    db_session.commit()
    login(client, sc.coordinator.username, PASSWORD)
    page = client.get(_live(sc)).text
    assert "Quorum fehlt" in page and 'src="/static/live.js"' in page
    _check_in_all(client, sc)
    fragment = client.get(f"/sessions/{sc.cs.id}/quorum").text
    assert "Quorum erfüllt" in fragment
    assert sc.cases[0].patient.family_name not in fragment  # the polled fragment has no patient data


def test_bad_input_gets_a_clear_german_message_and_changes_nothing(client, db_session, scenario):
    sc = scenario
    db_session.commit()
    login(client, sc.coordinator.username, PASSWORD)
    base = {"name": "Dr. Eva Extern", "institution": "Praxis", "discipline": "Radiologie", "mode": "video"}
    status, page = _post(client, _live(sc), f"/sessions/{sc.cs.id}/attendance/external", {**base, "efn": "12345"})
    assert status == 422 and "Die EFN muss aus genau 15 Ziffern bestehen" in page
    assert _count(db_session, Attendance) == 0
    status, page = _post(client, _live(sc), f"/sessions/{sc.cs.id}/attendance/external", {**base, "efn": EFN})
    assert status == 200 and _count(db_session, Attendance) == 1
    # second check-in of the same person
    status, page = _post(client, _live(sc), f"/sessions/{sc.cs.id}/attendance", {"user": sc.radiologist.id})
    assert status == 200
    status, page = _post(client, _live(sc), f"/sessions/{sc.cs.id}/attendance", {"user": sc.radiologist.id})
    assert status == 409 and "ist in dieser Sitzung bereits eingecheckt" in page
    assert _count(db_session, Attendance) == 2
    # leaving before arriving
    sc.clock.current = minutes(sc, 30)
    row = db_session.scalar(select(Attendance).where(Attendance.user_id == sc.radiologist.id))
    start = sc.cs.local_start
    early = f"{start.hour - 1:02d}:{start.minute:02d}"
    status, page = _post(client, _live(sc), f"/attendance/{row.id}/leave", {"left_at": early})
    assert status == 422 and "muss nach der Ankunft" in page
    db_session.expire_all()
    assert db_session.get(Attendance, row.id).left_at is None
    # signing with a wrong password
    _record(client, sc, sc.cases[0].id, quorum_reason="Notfall, Pathologie kommt später")
    logout_login(client, sc.radiologist.username)
    status, page = _post(client, _live(sc), f"/sessions/{sc.cs.id}/protocol/sign", {"password": "falsch"})
    assert status == 422 and "Das Passwort ist falsch" in page
    assert _count(db_session, ProtocolVersion) == 0
    db_session.expire_all()
    assert all(r.locked_at is None for r in db_session.scalars(select(Recommendation)))


def logout_login(client, username: str) -> None:
    client.delete_cookie("tumorboard_session")
    login(client, username, PASSWORD)


def test_recommendation_without_quorum_needs_reason_then_is_a_nonconformity(client, db_session, scenario):
    sc = scenario
    db_session.commit()
    login(client, sc.coordinator.username, PASSWORD)
    _post(client, _live(sc), f"/sessions/{sc.cs.id}/attendance", {"user": sc.radiologist.id})
    status, page = _record(client, sc, sc.cases[0].id)
    assert status == 422 and "Das Quorum ist nicht erfüllt" in page and "Pathologie" in page
    assert _count(db_session, Recommendation) == 0
    status, page = _record(client, sc, sc.cases[0].id, quorum_reason="Pathologie im OP, Befund schriftlich")
    assert status == 200 and "nicht erfüllt" in page
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "protocol:quorum:nonconformity")).all()
    assert len(events) == 1 and events[0].reason == "Pathologie im OP, Befund schriftlich"
    # QM sees it in the audit log
    from tumorboard.auth.actors import CLI
    from tumorboard.auth.services import create_user

    create_user(db_session, username="qm.test", display_name="QM", password=PASSWORD, role="qm",
                at=sc.clock.now(), actor=CLI)  # fmt: skip
    db_session.commit()
    logout_login(client, "qm.test")
    log = client.get("/audit?tag=protocol:quorum").text
    assert "protocol:quorum:nonconformity" in log and "Pathologie im OP" in log


#: the amendment (a new revision and version) and the follow-up (a new row) are the legal ways after signing
LEGAL_AFTER_SIGNING = ("protocol.amend", "protocol.follow_up")


def _snapshot(db) -> dict[str, list]:
    out = {}
    for table in ("recommendation", "recommendation_participant", "protocol_version", "attendance"):
        out[table] = [tuple(r) for r in db.execute(text(f"SELECT * FROM {table} ORDER BY id")).all()]  # noqa: S608
    return out


def test_no_route_can_change_a_signed_recommendation(app, client, db_session, scenario):
    sc = scenario
    db_session.commit()
    login(client, sc.radiologist.username, PASSWORD)
    _check_in_all(client, sc)
    assert _record(client, sc, sc.cases[0].id)[0] == 200
    status, _ = _post(client, _live(sc), f"/sessions/{sc.cs.id}/protocol/sign", {"password": PASSWORD})
    assert status == 200
    db_session.expire_all()
    rec = db_session.scalar(select(Recommendation))
    row = db_session.scalar(select(Attendance))
    before = _snapshot(db_session)
    ids = {"case_id": sc.cases[0].id, "session_id": sc.cs.id, "attendance_id": row.id, "number": 1,
           "item_id": 1, "board_id": sc.board.id, "document_id": 1}  # fmt: skip
    data = {
        "text": "heimlich geändert", "therapy_types": ["ST"], "reason": "Änderung nach Unterschrift",
        "password": PASSWORD, "left_at": "", "user": str(sc.gastro.id), "mode": "video", "name": "Dr. Neu Person",
        "institution": "Extern", "discipline": "Radiologie", "attendance": str(row.id), "present": "0",
        "quorum_reason": "egal", "representation_board": "0", "status": "complete", "target": str(sc.cs.id),
    }  # fmt: skip
    token = csrf_from(client.get(_live(sc)).text)
    tried = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.endpoint in ("auth.login", "auth.logout", "auth.language"):
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(ids.get(m.group(1), 1)), rule.rule)
        response = client.post(url, data={"csrf_token": token, **data})
        tried.append((rule.endpoint, response.status_code))
        if rule.endpoint.startswith(("protocol.", "attendance.")) and rule.endpoint not in LEGAL_AFTER_SIGNING:
            assert response.status_code in (403, 409), (rule.endpoint, response.status_code)
    assert len(tried) >= 10 and any(e == "protocol.record" for e, _ in tried)
    db_session.expire_all()
    after = _snapshot(db_session)
    # an amendment (the one legal way) may add revision 2 and version 2; nothing that existed changed
    for table, rows in before.items():
        assert after[table][: len(rows)] == rows, table
    assert db_session.get(Recommendation, rec.id).text == "Resektion"
    # the case's "besprochen" is part of the signed record too: not even the coordinator can set it back
    logout_login(client, sc.coordinator.username)
    page = client.get(f"/cases/{sc.cases[0].id}").text
    response = client.post(
        f"/cases/{sc.cases[0].id}/status", data={"csrf_token": csrf_from(page), "status": "complete"}
    )
    assert response.status_code == 409 and "Protokoll dieser Sitzung ist unterschrieben" in response.text
    db_session.expire_all()
    assert db_session.get(Case, sc.cases[0].id).status is CaseStatus.DISCUSSED


def test_self_check_in_amendment_via_the_web_and_the_visible_difference(client, db_session, scenario):
    sc = scenario
    # the pathologist is a deputy of the moderation: checks others in, records, signs and amends (issue 10)
    set_member(db_session, sc.board, sc.pathologist, BoardRole.DEPUTY, at=sc.clock.now(), actor=CLI)
    db_session.commit()
    login(client, sc.pathologist.username, PASSWORD)
    status, page = _post(client, _live(sc), f"/sessions/{sc.cs.id}/attendance/self", {"mode": "video"})
    assert status == 200 and "Sie sind eingecheckt." in page
    row = db_session.scalar(select(Attendance).where(Attendance.user_id == sc.pathologist.id))
    assert row.recorded_by_id == sc.pathologist.id and row.mode.value == "video"
    for user in (sc.radiologist, sc.oncologist):
        _post(client, _live(sc), f"/sessions/{sc.cs.id}/attendance", {"user": user.id})
    assert _record(client, sc, sc.cases[0].id)[0] == 200
    status, page = _post(client, _live(sc), f"/sessions/{sc.cs.id}/protocol/sign", {"password": PASSWORD})
    assert status == 200 and "Protokoll unterschrieben (Version 1)." in page
    v1 = client.get(f"/sessions/{sc.cs.id}/protocol/v1.pdf").data
    url = f"/cases/{sc.cases[0].id}/recommendation"
    amend = {"therapy_types": ["OP"], "text": "Nur Resektion", "representation_board": "0", "reason": "Korrektur"}
    status, page = _post(client, url, f"{url}/amend", {**amend, "password": "falsch"})
    assert status == 422 and "Das Passwort ist falsch" in page
    status, page = _post(client, url, f"{url}/amend", {**amend, "password": PASSWORD})
    assert status == 200 and "Nachtrag unterschrieben." in page
    page = client.get(f"/sessions/{sc.cs.id}/protocol").text
    assert "Änderungen in Version 2 gegenüber Version 1" in page
    assert "<del>-Therapietypen: OP, CH</del>" in page and "<ins>+Therapietypen: OP</ins>" in page
    assert client.get(f"/sessions/{sc.cs.id}/protocol/v1.pdf").data == v1
    versions = db_session.scalars(select(ProtocolVersion).order_by(ProtocolVersion.version)).all()
    assert versions[0].sha256 in page and versions[1].reason == "Korrektur"
    for path in (f"/cases/{sc.cases[0].id}/recommendation.pdf", f"/sessions/{sc.cs.id}/attendance.pdf",
                 f"/attendance/{row.id}/cme.pdf", f"/sessions/{sc.cs.id}/protocol.pdf"):  # fmt: skip
        response = client.get(path)
        assert response.status_code == 200 and response.data.startswith(b"%PDF"), path
    assert client.get(f"/sessions/{sc.cs.id}/attendance.csv").status_code == 200
    # a physician gets only their own CME certificate
    other = db_session.scalar(select(Attendance).where(Attendance.user_id == sc.radiologist.id))
    assert client.get(f"/attendance/{other.id}/cme.pdf").status_code == 403
