"""The EIV client (issue 15) against a local HTTP server started by the test that implements the chambers'
documented contract (tests/cme/eiv_server.py; the one permitted stand-in, see README): after signing, three
attendances are stored, a wrong EFN check digit gets 422, a 500 is retried, a correction withdraws, the
reconciliation finds a difference, and the QM dashboard shows the deadline state."""

from __future__ import annotations

import datetime as dt
import hashlib
import os

import pytest
from sqlalchemy import func, select

from tests.cme.eiv_server import Chamber, serve
from tests.cme.factories import VNR, efn, held_session
from tests.conftest import NOW, login, make_settings
from tumorboard.attendance.models import Attendance, AttendanceMode
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.auth.services import create_user
from tumorboard.bootstrap import bootstrap
from tumorboard.cme.eiv import EivClient
from tumorboard.cme.jobs import push_eiv
from tumorboard.cme.models import EivState, EivSubmission
from tumorboard.cme.services import set_accreditation
from tumorboard.cme.submissions import DeadlineState, correct_cme_attendance, deadline_overview, reconcile
from tumorboard.errors import ConfigurationError
from tumorboard.protocol.models import ProtocolVersion
from tumorboard.web import create_app

#: An EFN whose check digit is wrong (the last digit of a valid one, changed).
BAD_EFN = efn(4)[:-1] + str((int(efn(4)[-1]) + 1) % 10)


@pytest.fixture
def signed(db_session):
    """The five-physician session (three with EFN), one more attendee whose EFN fails its check digit, the VNR,
    and a signed protocol."""
    held = held_session(db_session, NOW)
    cs = held.cs
    bad = Attendance(session_id=cs.id, user_id=None, name="Dr. Falsch Ziffer", institution="Praxis",
                     discipline="Urologie", efn=BAD_EFN, mode=AttendanceMode.VIDEO, arrived_at=cs.starts_at,
                     left_at=None, recorded_by_id=held.rows[0].user_id, created_at=cs.starts_at)  # fmt: skip
    db_session.add(bad)
    set_accreditation(db_session, cs=cs, vnr=VNR, category="C", points=2, valid_from=None, valid_to=None, user=None,
                      at=NOW, actor=CLI)  # fmt: skip
    db_session.add(ProtocolVersion(session_id=cs.id, version=1, signed_at=cs.ends_at,
                                   signed_by_id=bad.recorded_by_id, signed_by_name="Moderation", text="Protokoll",
                                   pdf=b"%PDF-1.7",
                                   sha256=hashlib.sha256(b"%PDF-1.7").hexdigest()))  # fmt: skip
    db_session.commit()
    return held, bad


@pytest.fixture
def chamber():
    return Chamber(accounts={VNR: "brief-passwort"})


def _runtime(tmp_path, database_url, engine, session_factory, clock, url, password="brief-passwort"):  # noqa: S107
    secrets_file = tmp_path / "eiv-passwords"
    secrets_file.write_text(f"# VNR PASSWORT\n{VNR} {password}\n", encoding="utf-8")
    os.chmod(secrets_file, 0o600)
    settings = make_settings(
        tmp_path, database_url, TUMORBOARD_EIV_BASE_URL=url, TUMORBOARD_EIV_PASSWORD_FILE=str(secrets_file)
    )
    return bootstrap(settings, engine=engine, session_factory=session_factory, clock=clock)


def _states(session):
    session.expire_all()
    return {s.efn: (s.state, s.http_status, s.attempts) for s in session.scalars(select(EivSubmission))}


def test_push_retry_422_withdraw_reconcile_and_dashboard(
    tmp_path, database_url, engine, session_factory, clock, db_session, signed, chamber
):
    held, _ = signed
    chamber.fail_next[efn(2)] = [500]
    clock.current = held.cs.ends_at + dt.timedelta(hours=2)
    with serve(chamber) as url:
        rt = _runtime(tmp_path, database_url, engine, session_factory, clock, url)
        assert push_eiv(rt) == 4
        states = _states(db_session)
        assert states[efn(1)] == (EivState.STORED, 200, 1)
        assert states[efn(3)] == (EivState.STORED, 200, 1)
        assert states[efn(2)] == (EivState.PENDING, 500, 1)  # retried later, unchanged
        assert states[BAD_EFN] == (EivState.MALFORMED, 422, 1)
        assert set(chamber.records) == {(efn(1), VNR), (efn(3), VNR)}

        assert push_eiv(rt) == 0  # the retry waits for its time
        clock.current += dt.timedelta(minutes=5)
        assert push_eiv(rt) == 1
        assert _states(db_session)[efn(2)] == (EivState.STORED, 200, 2)
        assert {k: r["punkte_basis_flag"] for k, r in chamber.records.items()} == {
            (efn(1), VNR): True,
            (efn(2), VNR): True,
            (efn(3), VNR): True,
        }  # fmt: skip  — three pushed and stored
        assert chamber.pushes.count((efn(2), 500)) == 1

        # a correction: Dr. Emil Onko left after five minutes -> withdrawn at the chamber
        onko = held.rows[4]
        correct_cme_attendance(db_session, onko, credited=False, reason="nach 5 Minuten gegangen", at=clock.now(),
                               actor=CLI)  # fmt: skip
        db_session.commit()
        assert push_eiv(rt) == 1
        assert _states(db_session)[efn(3)][0] is EivState.WITHDRAWN
        record = chamber.records[(efn(3), VNR)]
        assert (record["punkte_basis_flag"], record["punkte_lernerfolg_flag"]) == (False, False)

        # reconciliation: in step, then the chamber loses one record
        client = EivClient(url)
        passwords = rt.eiv.passwords()
        assert reconcile(db_session, client, passwords, held.cs) == []
        del chamber.records[(efn(1), VNR)]
        [difference] = reconcile(db_session, client, passwords, held.cs)
        assert (difference.efn, difference.ours, difference.theirs) == (efn(1), "gespeichert", "fehlt")

    # the deadline state on the QM dashboard (the 422 needs a person)
    [row] = deadline_overview(db_session, now=clock.now())
    assert row.state == DeadlineState.PROBLEM and row.report_by == held.cs.local_start.date() + dt.timedelta(days=8)
    create_user(db_session, username="qm.cme", display_name="QM CME", password="qm-cme-password-1", role="qm",
                at=NOW, actor=CLI)  # fmt: skip
    db_session.commit()
    client = create_app(rt).test_client()
    login(client, "qm.cme", "qm-cme-password-1")
    page = client.get("/qm/").text
    assert "CME-Meldungen an die Ärztekammer" in page
    assert f'data-session="{held.cs.id}" data-state="{DeadlineState.PROBLEM}"' in page
    assert held.cs.local_start.date().strftime("%d.%m.%Y") in page and VNR in page
    session_page = client.get(f"/sessions/{held.cs.id}/cme").text
    assert session_page.count('data-state="stored"') == 2 and session_page.count('data-state="withdrawn"') == 1
    assert 'data-state="malformed"' in session_page and "EFN-Prüfziffer" in session_page
    assert db_session.scalar(select(func.count()).where(AuditEvent.tag == "cme:eiv:push")) == 5


def test_deadline_state_open_then_late(db_session, signed):
    held, _ = signed
    day = held.cs.local_start.date()
    [row] = deadline_overview(db_session, now=held.cs.ends_at + dt.timedelta(days=1))
    assert row.state == DeadlineState.OPEN
    late = dt.datetime.combine(day + dt.timedelta(days=9), dt.time(12), tzinfo=dt.UTC)
    [row] = deadline_overview(db_session, now=late)
    assert row.state == DeadlineState.LATE and row.correct_by == day + dt.timedelta(days=15)
    assert deadline_overview(db_session, now=late + dt.timedelta(days=7)) == []  # correction window closed


def test_wrong_password_keeps_reports_pending(
    tmp_path, database_url, engine, session_factory, clock, db_session, signed, chamber
):
    held, _ = signed
    clock.current = held.cs.ends_at + dt.timedelta(hours=1)
    with serve(chamber) as url:
        rt = _runtime(tmp_path, database_url, engine, session_factory, clock, url, password="falsch")
        push_eiv(rt)
    states = _states(db_session)
    assert {s[0] for s in states.values()} == {EivState.PENDING} and {s[1] for s in states.values()} == {401}
    assert chamber.records == {}


def test_disabled_until_configured(runtime, db_session, signed):
    assert not runtime.eiv.enabled
    assert push_eiv(runtime) == 0
    assert db_session.scalar(select(func.count()).select_from(EivSubmission)) == 0


def test_password_file_readable_by_others_is_refused(tmp_path, database_url, engine, session_factory, clock):
    rt = _runtime(tmp_path, database_url, engine, session_factory, clock, "http://127.0.0.1:9")
    os.chmod(rt.eiv.password_file, 0o644)
    with pytest.raises(ConfigurationError):
        rt.eiv.passwords()


def test_plain_http_only_to_this_machine(tmp_path, database_url):
    with pytest.raises(ConfigurationError):
        bootstrap(make_settings(tmp_path, database_url, TUMORBOARD_EIV_BASE_URL="http://eiv.example.org"))


def test_closed_vnr_is_refused_406_and_429_waits(
    tmp_path, database_url, engine, session_factory, clock, db_session, signed, chamber
):
    held, _ = signed
    chamber.fail_next[efn(1)] = [429]
    chamber.closed.add(VNR)
    clock.current = held.cs.ends_at + dt.timedelta(hours=1)
    with serve(chamber) as url:
        rt = _runtime(tmp_path, database_url, engine, session_factory, clock, url)
        push_eiv(rt)
    states = _states(db_session)
    assert states[efn(1)] == (EivState.PENDING, 429, 1)
    assert states[efn(2)] == (EivState.REFUSED, 406, 1) and states[efn(3)] == (EivState.REFUSED, 406, 1)
    sub = db_session.scalars(select(EivSubmission).where(EivSubmission.efn == efn(2))).one()
    assert "abgelehnt" in sub.message
    assert chamber.records == {}
