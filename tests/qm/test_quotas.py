"""Primary-case import (all or nothing, line and reason) and the presentation quotas P1–P3 (issue 11)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, insert, select

from tests.conftest import NOW, csrf_from, login
from tests.factories import make_board, make_user
from tumorboard.auth.actors import CLI
from tumorboard.cases.models import Case, CaseStatus
from tumorboard.conferences import services as conf
from tumorboard.conferences.models import SessionStatus
from tumorboard.errors import InvalidInput
from tumorboard.i18n import translate
from tumorboard.patients.models import Patient
from tumorboard.qm.models import IndicatorCode, PrimaryCase, PrimaryCaseImport
from tumorboard.qm.period import year_period
from tumorboard.qm.quotas import COLUMNS, ImportRejected, import_primary_cases, quota_result
from tumorboard.qm.services import build_dashboard

HEADER = ";".join(COLUMNS)


def _line(pid, *, name="Muster, Erika", birth="1960-05-01", entity="QMT", diag="2025-02-03", primary="J",
          operated="N", op="", therapy="", stage="II", recurrence="", emergency="N") -> str:  # fmt: skip
    return ";".join(
        [pid, birth, name, "C50.1", entity, diag, primary, operated, op, therapy, stage, recurrence, emergency]
    )


def _csv(*lines: str) -> bytes:
    return ("\ufeff" + "\r\n".join([HEADER, *lines]) + "\r\n").encode()


@pytest.fixture
def world(db_session):
    board = make_board(db_session, NOW, name="QM-Testkonferenz", short_name="QMT", series_start=dt.date(2024, 1, 2))
    clerk = make_user(db_session, NOW)
    conf.generate_sessions(
        db_session, start=dt.date(2025, 1, 1), end=dt.date(2026, 1, 1), at=NOW, actor=CLI, boards=[board]
    )
    sessions = {
        cs.local_start.date(): cs
        for cs in conf.sessions_between(
            db_session, *conf.day_range(dt.date(2025, 1, 1), dt.date(2026, 1, 1)), board=board
        )
    }
    patients = {}
    for pid in ("A", "B", "D", "E", "F", "G", "H"):
        patient = Patient(
            patient_number=f"KIS-{pid}", family_name="Muster", given_name="Erika", name_key="muster erika",
            birth_date=dt.date(1960, 5, 1), sex="W", created_at=NOW,
        )  # fmt: skip
        db_session.add(patient)
        patients[pid] = patient
    db_session.flush()

    def present(pid: str, day: dt.date, kind: str) -> None:
        cs = sessions[day]
        db_session.execute(insert(Case), [{
            "patient_id": patients[pid].id, "board_id": board.id, "session_id": cs.id, "position": 0,
            "icd10_code": "C50.1", "icd10_text": "Brust", "conference_type": kind, "question": "?",
            "registered_by_id": clerk.id, "status": CaseStatus.DISCUSSED, "is_late": False,
            "registered_at": NOW, "updated_at": NOW,
        }])  # fmt: skip

    present("A", dt.date(2025, 2, 11), "praeth")  # after diagnosis 02-03, before therapy 03-01: counts for P1
    present("B", dt.date(2025, 3, 11), "praeth")  # after therapy start 03-01: does not count
    present("D", dt.date(2025, 2, 11), "praeth")
    present("D", dt.date(2025, 4, 1), "postop")  # after the operation 03-20: counts for P2
    present("E", dt.date(2025, 2, 11), "praeth")  # operated, never presented postop: P2 gap
    present("F", dt.date(2025, 9, 9), "praeth")  # recurrence 2025-09-01: counts for P3
    present("H", dt.date(2025, 2, 18), "praeth")
    sessions[dt.date(2025, 2, 18)].status = SessionStatus.CANCELLED  # a presentation in a cancelled session
    sessions[dt.date(2025, 2, 18)].cancel_reason = "Kongress"
    db_session.flush()
    content = _csv(
        _line("KIS-A", therapy="2025-03-01"),
        _line("KIS-B", therapy="2025-03-01"),
        _line("KIS-C"),  # unknown to us: never presented
        _line("KIS-D", operated="J", op="2025-03-20", therapy="2025-03-20"),
        _line("KIS-E", operated="J", op="20.03.2025", therapy="2025-03-20"),
        _line("KIS-F", diag="2023-05-01", primary="N", recurrence="2025-09-01"),
        _line("KIS-G", diag="2025-01-10", stage="IV", recurrence="2025-01-10"),  # primary M1: not P3
        _line("KIS-H"),
    )
    return board, content


def test_quotas_follow_the_counting_rules(db_session, world):
    board, content = world
    record = import_primary_cases(
        db_session, board=board, year=2025, filename="2025.csv", content=content, at=NOW, actor=CLI
    )
    assert record.row_count == 8
    result = quota_result(db_session, board, 2025)
    assert result is not None
    quotas = {q.code: (q.numerator, q.denominator) for q in result.quotas}
    # P1: A, B, C, D, E, G, H are primary (F is not); presented praeth in time: A, D, E.
    assert quotas[IndicatorCode.P1] == (3, 7)
    # P2: operated D and E; D presented postop after the operation.
    assert quotas[IndicatorCode.P2] == (1, 2)
    # P3: F only (G's metastasis is at diagnosis).
    assert quotas[IndicatorCode.P3] == (1, 1)
    missing = [(m.code.value, m.patient_number, m.line) for m in result.never_presented]
    assert missing == [
        ("P1", "KIS-B", 3),
        ("P1", "KIS-C", 4),
        ("P1", "KIS-G", 8),
        ("P1", "KIS-H", 9),
        ("P2", "KIS-E", 6),
    ]
    data = build_dashboard(db_session, boards=[board], period=year_period(2025), now=NOW)
    shown = {v.code: (v.numerator, v.denominator) for v in data.indicators if v.code.value.startswith("P")}
    assert shown == quotas


def _count(db_session) -> tuple[int, int]:
    return (
        db_session.scalar(select(func.count()).select_from(PrimaryCaseImport)),
        db_session.scalar(select(func.count()).select_from(PrimaryCase)),
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"Patient;Datum\r\nA;2025-01-01\r\n", "Die Spalten stimmen nicht"),
        (_csv(_line("KIS-X")).replace(b"Muster", "Müller".encode("latin-1")), "nicht UTF-8-kodiert (Zeile 2)"),
        (_csv(), "keine Fälle"),
    ],
)
def test_bad_files_are_refused_with_a_german_message(db_session, world, content, message):
    board, _ = world
    before = _count(db_session)
    with pytest.raises(InvalidInput) as raised:
        import_primary_cases(db_session, board=board, year=2025, filename="x.csv", content=content, at=NOW, actor=CLI)
    assert message in translate(raised.value.message, "de", **raised.value.params)
    assert _count(db_session) == before


def test_bad_lines_refuse_the_whole_file_with_line_and_reason(db_session, world):
    board, _ = world
    before = _count(db_session)
    content = _csv(
        _line("KIS-1"),
        _line("KIS-2", diag="2025-13-01"),
        _line("KIS-3", entity="Lunge"),
        _line("KIS-4", operated="J"),
        _line("KIS-A", birth="1961-01-01"),  # our KIS-A has another birth date
        _line("KIS-5", primary="vielleicht"),
        _line("KIS-6", diag="2099-01-01"),
    )
    with pytest.raises(ImportRejected) as raised:
        import_primary_cases(db_session, board=board, year=2025, filename="x.csv", content=content, at=NOW, actor=CLI)
    problems = [(p.line, translate(p.message, "de", **p.params)) for p in raised.value.problems]
    assert [line for line, _ in problems] == [3, 4, 5, 6, 7, 8]
    assert "kein Datum" in problems[0][1] and "gehört nicht zu dieser Konferenz" in problems[1][1]
    assert "fehlt" in problems[2][1] and "anderen Person" in problems[3][1]
    assert "J oder N" in problems[4][1] and "unplausibel" in problems[5][1]
    assert _count(db_session) == before


def test_qm_imports_in_the_ui_and_sees_the_drill_down(client, db_session, world):
    board, content = world
    make_user(db_session, NOW, role="qm", username="qm1")
    db_session.commit()
    login(client, "qm1", "correct horse battery")
    page = client.get("/qm/primary-cases")
    token = csrf_from(page.text)
    bad = client.post(
        "/qm/primary-cases",
        data={"csrf_token": token, "board": str(board.id), "year": "2025",
              "file": (io.BytesIO(_csv(_line("KIS-1", diag="gestern"))), "bad.csv")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert bad.status_code == 422 and "Es wurde nichts übernommen" in bad.text
    assert "<td>2</td><td>„Diagnosedatum“ ist kein Datum" in bad.text
    good = client.post(
        "/qm/primary-cases",
        data={"csrf_token": token, "board": str(board.id), "year": "2025", "file": (io.BytesIO(content), "ok.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert good.status_code == 200 and "8 Fälle importiert." in good.text
    drill = client.get(f"/qm/quotas?board={board.id}&period=year&year=2025")
    assert drill.status_code == 200 and "KIS-C" in drill.text and "KIS-A</td>" not in drill.text
    as_csv = client.get(f"/qm/quotas?board={board.id}&period=year&year=2025&format=csv")
    assert as_csv.data.decode("utf-8-sig").splitlines()[1] == "P1;3;KIS-B;C50.1;2025-02-03"
    # each read of the never-presented list (KIS numbers: patient data) is an access event, without the numbers
    from tumorboard.audit.models import AuditEvent

    events = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "qm:quotas:view")).all()
    assert len(events) == 2 and all(e.actor_label == "user:qm1" for e in events)
    assert 3 in events[0].after["lines"] and "KIS" not in str(events[0].after)
    # without a board the page lets the reader pick one (the quotas are per board), and reads nothing else
    picker = client.get("/qm/quotas?period=year&year=2025")
    assert picker.status_code == 200 and f"/qm/quotas?board={board.id}&amp;period=year&amp;year=2025" in picker.text
    assert "KIS-" not in picker.text
    assert len(db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "qm:quotas:view")).all()) == 2


def test_a_list_in_decomposed_unicode_is_read_composed(db_session):
    """Issue 12, point 2: NFC at the CSV boundary — an entity and a name typed on macOS (NFD) are the ones we know."""
    import unicodedata

    board = make_board(db_session, NOW, name="Hämatologie", short_name="HÄM", series_start=dt.date(2024, 1, 2))
    db_session.add(
        Patient(
            patient_number="KIS-Ü", family_name="Müller", given_name="Jürgen", name_key="mueller juergen",
            birth_date=dt.date(1960, 5, 1), sex="M", created_at=NOW,
        )
    )  # fmt: skip
    db_session.flush()
    line = _line("KIS-Ü", name="Müller, Jürgen", entity="HÄM", stage="IIä")
    content = unicodedata.normalize("NFD", _csv(line).decode()).encode()
    assert "HA\u0308M" in content.decode()
    result = import_primary_cases(
        db_session, board=board, year=2025, filename="x.csv", content=content, at=NOW, actor=CLI
    )
    stored = db_session.scalars(select(PrimaryCase).where(PrimaryCase.import_id == result.id)).one()
    assert (stored.patient_number, stored.uicc_stage) == ("KIS-Ü", "IIä")
