"""CME per session (issue 15): accreditation with VNR (wrong length refused in German, failed check digit a
warning), the chamber's CSV, the attendance list and the certificate as PDF (text read with pdftotext), the
physicians without EFN listed for a paper certificate."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import subprocess

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.cme.factories import VNR, efn, held_session
from tests.conftest import NOW
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.cli import main
from tumorboard.cme.models import CmeAccreditation
from tumorboard.cme.services import accreditation_for, check_vnr, cme_report, deadlines, set_accreditation
from tumorboard.errors import Conflict, InvalidInput
from tumorboard.exports.cme import render_cme_attendance_pdf, render_cme_certificate, render_cme_csv
from tumorboard.protocol.models import ProtocolVersion


def pdftext(body: bytes, tmp_path) -> str:
    path = tmp_path / "x.pdf"
    path.write_bytes(body)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def held(db_session):
    return held_session(db_session, NOW)


def _accredit(session, held, **kw):
    values = {"vnr": VNR, "category": "C", "points": 2, "valid_from": None, "valid_to": None, **kw}
    return set_accreditation(session, cs=held.cs, user=None, at=NOW, actor=CLI, **values)


def test_vnr_rules():
    assert check_vnr(" 2761 2345 6789 0123 459 ") == (VNR, [])
    clean, warnings = check_vnr("2761234567890123451")  # last digit off: kept, with a warning
    assert clean == "2761234567890123451" and "Prüfziffer der VNR" in warnings[0]
    with pytest.raises(InvalidInput, match="genau 19 Ziffern"):
        check_vnr("276123456789012345")
    with pytest.raises(InvalidInput, match="beginnt mit 276"):
        check_vnr("1761234567890123459")


def test_vnr_of_wrong_length_german_message_nothing_changed(runtime, db_session, held):
    _accredit(db_session, held)
    db_session.commit()
    result = CliRunner().invoke(
        main, ["cme", "set", "--session", str(held.cs.id), "--vnr", "27612345", "--category", "C", "--points", "3"],
        obj=runtime,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Die VNR muss aus genau 19 Ziffern bestehen (eingegeben: 8 Zeichen)." in result.stderr
    db_session.expire_all()
    row = db_session.scalars(select(CmeAccreditation)).one()
    assert (row.vnr, row.points) == (VNR, 2)
    assert db_session.scalar(select(func.count()).where(AuditEvent.tag == "cme:accreditation:set")) == 1


def test_board_defaults_apply_until_a_session_has_its_own(db_session, held):
    set_accreditation(db_session, board=held.cs.board, vnr=None, category="C", points=2, valid_from=None,
                      valid_to=None, user=None, at=NOW, actor=CLI)  # fmt: skip
    assert accreditation_for(db_session, held.cs).source == "board"
    with pytest.raises(Conflict, match="keine VNR"):
        cme_report(db_session, held.cs)
    _, warnings = _accredit(db_session, held, vnr="2761234567890123451", points=3)
    assert warnings  # the failed check digit is a warning, the VNR is stored
    got = accreditation_for(db_session, held.cs)
    assert (got.source, got.vnr, got.points) == ("session", "2761234567890123451", 3)
    with pytest.raises(InvalidInput, match="außerhalb des akkreditierten Zeitraums"):
        _accredit(db_session, held, valid_from=dt.date(2030, 1, 1), valid_to=dt.date(2030, 12, 31))


def test_five_physicians_two_without_efn(runtime, db_session, held, tmp_path):
    _accredit(db_session, held)
    db_session.commit()
    report = cme_report(db_session, held.cs)
    assert [a.name for a in report.without_efn] == ["Dr. Anna Efnfrei", "Dr. Dora Ohnenummer"]
    day = held.cs.local_start.date()
    assert report.deadlines == deadlines(held.cs) and report.deadlines.report_by == day + dt.timedelta(days=8)

    lines = list(csv.reader(io.StringIO(render_cme_csv(report).decode("utf-8-sig")), delimiter=";"))
    assert lines[0] == ["efn", "vnr", "teilnahmedatum", "punkte_basis_flag", "punkte_lernerfolg_flag",
                        "punkte_referent", "Name"]  # fmt: skip
    assert lines[1:] == [
        [efn(1), VNR, day.isoformat(), "1", "0", "0", "Dr. Bernd Berg"],
        [efn(2), VNR, day.isoformat(), "1", "0", "0", "Dr. Clara Chirurg"],
        [efn(3), VNR, day.isoformat(), "1", "0", "0", "Dr. Emil Onko"],
    ]

    text = pdftext(render_cme_attendance_pdf(report, templates=runtime.templates, generated_at=NOW), tmp_path)
    assert "Anwesenheitsliste (CME)" in text and VNR in text and "Demo-Raum 2" in text
    for row in held.rows:
        assert row.name in text
    paper = text.split("Ohne EFN – Papierbescheinigung", 1)[1]
    assert "Dr. Anna Efnfrei" in paper and "Dr. Dora Ohnenummer" in paper and "Dr. Bernd Berg" not in paper

    cert = pdftext(
        render_cme_certificate(report, held.rows[1], templates=runtime.templates, generated_at=NOW), tmp_path
    )
    flat = " ".join(cert.split())
    for expected in (VNR, "Dr. Bernd Berg", efn(1), "Demo-Raum 2", held.cs.board.center, "2 Punkte, Kategorie C",
                     held.cs.local_start.strftime("%H:%M"), held.cs.local_end.strftime("%H:%M"),
                     "Die Veranstaltung ist im Rahmen der Zertifizierung der ärztlichen Fortbildung der Ärztekammer "
                     "Westfalen-Lippe mit 2 Punkten (Kategorie C) anrechenbar."):  # fmt: skip
        assert expected in flat, flat[200:900]


def test_cli_report_writes_csv_and_pdf_and_lists_paper_certificates(runtime, db_session, held, tmp_path):
    _accredit(db_session, held)
    db_session.commit()
    result = CliRunner().invoke(main, ["cme", "report", str(held.cs.id), "--out-dir", str(tmp_path)], obj=runtime)
    assert result.exit_code == 0, result.output
    assert "3 Teilnehmende mit EFN" in result.output
    assert "ohne EFN (Papierbescheinigung): Dr. Anna Efnfrei (Pathologie)" in result.output
    assert "ohne EFN (Papierbescheinigung): Dr. Dora Ohnenummer (Strahlentherapie)" in result.output
    assert (tmp_path / f"cme-{held.cs.id}.csv").read_bytes().count(b"\r\n") == 4
    assert "Dr. Emil Onko" in pdftext((tmp_path / f"cme-anwesenheit-{held.cs.id}.pdf").read_bytes(), tmp_path)


def test_session_page_sets_accreditation_and_refuses_wrong_length(client, db_session, demo):
    from tests.conftest import csrf_from, login
    from tumorboard.conferences.models import ConferenceSession

    cs = db_session.scalars(select(ConferenceSession).order_by(ConferenceSession.starts_at)).first()
    login(client, "koordination")
    page = client.get(f"/sessions/{cs.id}/cme")
    assert page.status_code == 200 and 'id="cme-form"' in page.text
    token = csrf_from(page.text)
    bad = client.post(f"/sessions/{cs.id}/cme", data={"csrf_token": token, "vnr": "276123", "category": "C",
                                                      "points": "2"})  # fmt: skip
    assert bad.status_code == 422
    assert "Die VNR muss aus genau 19 Ziffern bestehen (eingegeben: 6 Zeichen)." in bad.text
    assert db_session.scalar(select(func.count()).select_from(CmeAccreditation)) == 0
    data = {"csrf_token": token, "vnr": "2761234567890123451", "category": "C", "points": "2"}
    warned = client.post(f"/sessions/{cs.id}/cme", data=data, follow_redirects=True)
    assert warned.status_code == 200 and "Prüfziffer der VNR stimmt nicht" in warned.text
    assert accreditation_for(db_session, cs).vnr == "2761234567890123451"


def test_a_physician_who_left_and_came_back_is_reported_once(db_session, held):
    """Issue 13 lets a person leave and return (two attendance rows); the chamber gets one line and one report."""
    from tumorboard.attendance.models import Attendance
    from tumorboard.cme.models import EivSubmission
    from tumorboard.cme.submissions import enqueue_signed

    _accredit(db_session, held)
    first = held.rows[1]
    first.left_at = held.cs.starts_at + dt.timedelta(minutes=10)
    again = Attendance(
        session_id=held.cs.id, user_id=first.user_id, name=first.name, institution="", discipline=first.discipline,
        efn=first.efn, mode=first.mode, arrived_at=held.cs.starts_at + dt.timedelta(minutes=20), left_at=None,
        recorded_by_id=first.recorded_by_id, created_at=held.cs.starts_at,
    )  # fmt: skip
    db_session.add(again)
    db_session.flush()
    report = cme_report(db_session, held.cs)
    lines = list(csv.reader(io.StringIO(render_cme_csv(report).decode("utf-8-sig")), delimiter=";"))
    assert [line[0] for line in lines[1:]] == [efn(1), efn(2), efn(3)]
    pdf = b"%PDF-1.7"
    db_session.add(ProtocolVersion(session_id=held.cs.id, version=1, signed_at=held.cs.ends_at,
                                   signed_by_id=first.recorded_by_id, signed_by_name="Moderation", text="Protokoll",
                                   pdf=pdf, sha256=hashlib.sha256(pdf).hexdigest()))  # fmt: skip
    db_session.flush()
    enqueue_signed(db_session, at=held.cs.ends_at + dt.timedelta(hours=1))
    reported = db_session.scalars(select(EivSubmission.efn).order_by(EivSubmission.efn)).all()
    assert reported == sorted([efn(1), efn(2), efn(3)])


def test_the_cme_downloads_are_for_the_cme_page_readers_only(client, db_session, held):
    """The CSV and the attendance list carry every attendee's EFN: a physician, who may not open the CME page,
    could download both (they were guarded by the attendance list's rule, which lets every role read)."""
    from tests.conftest import login
    from tests.factories import make_user

    _accredit(db_session, held)
    make_user(db_session, NOW, role="physician", username="doc.cme")
    make_user(db_session, NOW, role="qm", username="qm.cme")
    db_session.commit()
    urls = (f"/sessions/{held.cs.id}/cme.csv", f"/sessions/{held.cs.id}/cme-anwesenheit.pdf")
    login(client, "doc.cme", "correct horse battery")
    assert [client.get(url).status_code for url in urls] == [403, 403]
    client = client.application.test_client()
    login(client, "qm.cme", "correct horse battery")
    assert [client.get(url).status_code for url in urls] == [200, 200]
