# ruff: noqa: S608 - every query is a constant; the only f-string part is the constant IN_YEAR, values are bound
"""Acceptance of issue 11 at full size: one year of activity of the nine demo boards (about 470 sessions, ~10,000
cases, cancellations, undocumented sessions, attendance in person and by video with stand-ins and early leavers,
sessions without quorum, deviations and re-presentations, late registrations, imaging, amendments, an imported
primary-case CSV), built once per database (module fixture, bulk inserts), then the evidence bundle of all boards
for the year, and every figure of it checked against counts computed here with plain SQL.

Runs on SQLite and, with TUMORBOARD_TEST_PG_ADMIN_URL, on PostgreSQL. No timing asserts (benchmarks/qm_bundle.py
measures the time).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import subprocess
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.qm.activity import build_activity
from tumorboard.auth.actors import CLI
from tumorboard.auth.models import User
from tumorboard.clock import BERLIN
from tumorboard.conferences.models import Board
from tumorboard.conferences.schedule import is_working_day
from tumorboard.demo.data import load_demo
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.qm.indicators import IndicatorInput, define_indicator
from tumorboard.qm.jobs import make_bundle
from tumorboard.qm.period import year_period
from tumorboard.qm.quotas import COLUMNS, EPISODE_DAYS, import_primary_cases

#: After the year: every session of 2026 is over.
AT = dt.datetime(2027, 1, 4, 8, 0, tzinfo=dt.UTC)
YEAR = year_period(2026)
#: The sessions of the year by their UTC start (all boards meet in the afternoon, far from midnight).
IN_YEAR = "s.starts_at >= :first AND s.starts_at < :end"
BOUNDS = {"first": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "end": dt.datetime(2027, 1, 1, tzinfo=dt.UTC)}


@dataclass
class Year:
    session: Session
    boards: list[Board]
    tables: dict[str, list[list[str]]]
    files: dict[str, bytes]
    manifest: dict
    imported: list[str]  # short names of the boards with a primary-case list


def _sql(session: Session, query: str, **params: object) -> list:
    """Plain SQL. Instants are bound as each database stores them (SQLite: naive UTC text, as UTCDateTime writes)."""
    sqlite = session.get_bind().dialect.name == "sqlite"

    def bind(value: object) -> object:
        if sqlite and isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    return list(session.execute(text(query), {k: bind(v) for k, v in {**BOUNDS, **params}.items()}))


STAGES = ("I", "IIA", "IIIB", "IVA")
#: Entity-specific denominators as configuration (qm.md): Darm-like P1 for the first board, Lunge-like P2 for the
#: second; checked below with the same criteria written out in Python.
RULES = {0: ("P1", "ICD=C19,C20 elektiv | ICD=C18 UICC=IV elektiv"), 1: ("P2", "UICC=IB,IIA,IIB,IIIA,IIIB")}


def _in_cohort(board_index: int, code: str, icd: str, stage: str, emergency: bool) -> bool:
    if RULES.get(board_index, ("", ""))[0] != code:
        return True
    if board_index == 0:
        return not emergency and (icd.startswith(("C19", "C20")) or (icd.startswith("C18") and stage.startswith("IV")))
    return stage in ("IB", "IIA", "IIB", "IIIA", "IIIB")


def _primary_csv(board: Board, patients: list[tuple[int, str]], case_days: dict[int, dt.date]) -> bytes:
    """A primary-case export of the tumor documentation: most presented patients (some operated, some with a
    recurrence), plus patients we never saw (the drill-down list)."""
    lines = [";".join(COLUMNS)]
    for n, (patient_id, number) in enumerate(patients):
        seen = case_days[patient_id]
        diagnosis = seen - dt.timedelta(days=10 + n % 20)
        operated = n % 3 == 0
        op_day = seen + dt.timedelta(days=14) if operated else None
        recurrence = seen - dt.timedelta(days=5) if n % 7 == 0 else None
        icd, stage = ("C20", "IIA") if n % 5 == 0 else ("C18.7", "IV") if n % 5 == 1 else ("C18.0", STAGES[n % 4])
        lines.append(
            ";".join(
                [number, "1950-01-01", "Muster, Test", icd, board.short_name, diagnosis.isoformat(),
                 "J" if n % 10 else "N", "J" if operated else "N", op_day.isoformat() if op_day else "",
                 (seen + dt.timedelta(days=7 if n % 4 else -3)).isoformat(), stage,
                 recurrence.isoformat() if recurrence else "", "J" if n % 11 == 0 else "N"]
            )
        )  # fmt: skip
    for n in range(25):
        lines.append(
            f"NIE-{board.short_name}-{n};1961-02-03;Nie, Gesehen;C18.0;{board.short_name};2026-03-02;J;J;"
            f"2026-04-01;2026-03-20;III;{'2026-09-01' if n % 5 == 0 else ''};N"
        )
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


@pytest.fixture(scope="module")
def year(engine, tmp_path_factory) -> Year:
    from tumorboard.qm.models import IndicatorCode  # noqa: F401 - the models are registered

    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        load_demo(session, at=AT, actor=CLI, horizon_weeks=1)
        boards = list(session.scalars(select(Board).order_by(Board.name)))
        clerk = session.scalars(select(User).where(User.username == "koordination")).one()
        built = build_activity(
            session, boards, first=YEAR.first, last=YEAR.last, clerk=clerk, at=AT, max_cases=45, seed=2026
        )
        # Two boards import their primary-case list for the year through the real import (all or nothing).
        days = {
            pid: _aware(day).astimezone(BERLIN).date()
            for pid, day in _sql(
                session,
                "SELECT c.patient_id, s.starts_at FROM case_registration c "
                "JOIN conference_session s ON s.id = c.session_id WHERE c.status = 'discussed' AND " + IN_YEAR,
            )
        }
        board_of = dict(_sql(session, "SELECT patient_id, board_id FROM case_registration"))
        imported = []
        for index, (code, rule) in RULES.items():
            define_indicator(
                session, code=code, board=boards[index],
                data=IndicatorInput(name=f"{code} (Entität)", numerator="siehe Kennzahlenbogen",
                                    denominator="Primärfälle der Entität", target_percent=90.0,
                                    target_direction="at_least", working_days=None, source="Test",
                                    reason="Entitätsspezifischer Nenner", cohort_rule=rule),
                at=AT, actor=CLI,
            )  # fmt: skip
        for board in boards[:2]:
            mine = [(pid, number) for pid, number in built.patients if pid in days and board_of[pid] == board.id][:300]
            import_primary_cases(
                session, board=board, year=2026, filename="export.csv", content=_primary_csv(board, mine, days),
                at=AT, actor=CLI,
            )  # fmt: skip
            imported.append(board.short_name)
        session.commit()
        target = tmp_path_factory.mktemp("bundle") / "jahr.zip"
        make_bundle(
            session, boards=boards, period=YEAR, now=AT, templates=ExportTemplates(), generated_by="Test",
            target=target,
        )  # fmt: skip
        with zipfile.ZipFile(target) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
        manifest = json.loads(files.pop("manifest.json"))
        tables = {
            Path(p).stem.split("_")[0]: list(csv.reader(io.StringIO(d.decode("utf-8-sig")), delimiter=";"))
            for p, d in files.items()
            if p.endswith(".csv")
        }
        try:
            yield Year(session, boards, tables, files, manifest, imported)
        finally:
            session.close()
            outer.rollback()


def _body(year: Year, key: str) -> list[list[str]]:
    return year.tables[key][1:]


def test_the_year_has_the_size_of_the_issue(year):
    n_sessions = _sql(year.session, f"SELECT COUNT(*) FROM conference_session s WHERE {IN_YEAR}")[0][0]
    n_cases = _sql(
        year.session,
        f"SELECT COUNT(*) FROM case_registration c JOIN conference_session s ON s.id = c.session_id WHERE {IN_YEAR}",
    )[0][0]
    assert len(year.boards) == 9 and 440 <= n_sessions <= 480 and 8_000 <= n_cases <= 12_000
    assert len(_body(year, "T1")) == n_sessions and len(_body(year, "T3")) == n_cases


def test_every_file_matches_the_manifest_every_pdf_is_pdfa_every_csv_reads_back(year):
    listed = {f["path"]: f for f in year.manifest["files"]}
    assert set(listed) == set(year.files)
    for path, data in year.files.items():
        assert hashlib.sha256(data).hexdigest() == listed[path]["sha256"] and len(data) == listed[path]["size"]
    assert year.manifest["period"]["from"] == "2026-01-01" and len(year.manifest["boards"]) == 9
    made = [p for p in year.files if p.endswith(".pdf") and not p.startswith(("protokolle/", "tagesordnungen/"))]
    assert len(made) == 1 + len(year.tables)
    for path in made:
        data = year.files[path]
        meta = subprocess.run(["pdfinfo", "-meta", "-"], input=data, capture_output=True, check=True).stdout
        assert b'pdfaid:part="3"' in meta and b'pdfaid:conformance="B"' in meta, path
        fonts = subprocess.run(["pdffonts", "-"], input=data, capture_output=True, check=True).stdout.decode()
        assert all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:]), path  # every font embedded
    # The case log's PDF holds every case: its first and last rows extract as text (first and last page only:
    # the whole ~300 pages take pdftotext half a minute on a loaded machine).
    t3_pdf = year.files["tabellen/T3_fallprotokoll.pdf"]
    info = subprocess.run(["pdfinfo", "-"], input=t3_pdf, capture_output=True, check=True).stdout.decode()
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages > 100

    def page_text(page: int) -> str:
        command = ["pdftotext", "-f", str(page), "-l", str(page), "-", "-"]
        return subprocess.run(command, input=t3_pdf, capture_output=True, check=True).stdout.decode()

    assert _body(year, "T3")[0][0] in page_text(1).split() and _body(year, "T3")[-1][0] in page_text(pages).split()
    for rows in year.tables.values():
        assert len({len(r) for r in rows}) == 1  # every line has the header's columns


def test_t1_sessions_and_held_rate(year):
    facts = _sql(
        year.session,
        "SELECT s.id, b.short_name, s.status, "
        " EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id), "
        " EXISTS (SELECT 1 FROM protocol_version v WHERE v.session_id = s.id) "
        f"FROM conference_session s JOIN board b ON b.id = s.board_id WHERE {IN_YEAR}",
    )
    expected: Counter[str] = Counter()
    per_board: dict[str, Counter[str]] = defaultdict(Counter)
    for _sid, board, status, attended, signed in facts:
        kind = (
            "abgesagt" if status == "cancelled"
            else "feiertag" if status == "holiday"
            else "protokolliert" if signed
            else "durchgeführt" if attended
            else "nicht dokumentiert"
        )  # fmt: skip
        expected[kind] += 1
        per_board[board][kind] += 1
    assert Counter(r[2] for r in _body(year, "T1")) == expected and expected["feiertag"] > 0
    for board, planned, held, cancelled, undocumented, *_ in _body(year, "T1b"):
        c = per_board[board]
        assert int(planned) == sum(c.values()) - c["feiertag"]  # holiday exceptions are not planned
        assert int(held) == c["protokolliert"] + c["durchgeführt"]
        assert (int(cancelled), int(undocumented)) == (c["abgesagt"], c["nicht dokumentiert"])
    discussed = dict(
        _sql(
            year.session,
            "SELECT s.id, COUNT(*) FROM case_registration c JOIN conference_session s ON s.id = c.session_id "
            f"WHERE c.status = 'discussed' AND {IN_YEAR} GROUP BY s.id",
        )
    )
    assert sum(int(r[8]) for r in _body(year, "T1")) == sum(discussed.values())
    h1 = {r[0]: r for r in _body(year, "T0") if r[1] == "H1"}
    for board, planned, held, *_ in _body(year, "T1b"):
        assert (h1[board][3], h1[board][4]) == (held, planned)


def test_t2_attendance_and_a1_quorum(year):
    rows = _sql(
        year.session,
        "SELECT a.mode, a.stands_in_for_name IS NOT NULL, a.left_at IS NOT NULL FROM attendance a "
        f"JOIN conference_session s ON s.id = a.session_id WHERE {IN_YEAR}",
    )
    t2 = _body(year, "T2")
    assert len(t2) == len(rows)
    assert Counter(r[4] for r in t2) == Counter(r[0] for r in rows) and len({r[4] for r in t2}) == 2
    assert sum(1 for r in t2 if r[7]) == sum(1 for r in rows if r[1]) > 0  # stand-ins
    assert sum(1 for r in t2 if r[6]) == sum(1 for r in rows if r[2]) > 0  # early leavers
    # A1 from the quorum configuration and the attendance, computed here.
    groups: dict[int, list[tuple[str, list[str]]]] = defaultdict(list)
    members: dict[int, list[str]] = defaultdict(list)
    for gid, name in _sql(
        year.session,
        "SELECT gd.group_id, d.name FROM quorum_group_discipline gd JOIN discipline d ON d.id = gd.discipline_id",
    ):
        members[gid].append(name.casefold())
    for gid, board_id, kind in _sql(year.session, "SELECT id, board_id, kind FROM quorum_group"):
        groups[board_id].append((kind, members[gid]))
    covered: dict[int, set[str]] = defaultdict(set)
    for sid, discipline, stands_for in _sql(
        year.session,
        "SELECT a.session_id, a.discipline, a.stands_in_for_discipline FROM attendance a "
        f"JOIN conference_session s ON s.id = a.session_id WHERE {IN_YEAR}",
    ):
        covered[sid].add((stands_for or discipline).casefold())
    held = _sql(
        year.session,
        "SELECT s.id, b.short_name, s.board_id FROM conference_session s JOIN board b ON b.id = s.board_id "
        f"WHERE s.status = 'planned' AND {IN_YEAR} AND EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id)",
    )
    failing: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for sid, board, board_id in held:
        total[board] += 1
        ok = all(
            all(m in covered[sid] for m in names) if kind == "all_of" else any(m in covered[sid] for m in names)
            for kind, names in groups[board_id]
            if names
        )
        failing[board] += not ok
    assert Counter(r[1] for r in _body(year, "T2b")) == +failing and sum(failing.values()) > 0
    for row in (r for r in _body(year, "T0") if r[1] == "A1"):
        assert (int(row[3]), int(row[4])) == (total[row[0]] - failing[row[0]], total[row[0]])


def test_t3_case_log_and_the_monthly_figures(year):
    rows = _sql(
        year.session,
        "SELECT c.conference_type, c.status, c.is_late, p.patient_number, s.starts_at, b.short_name "
        "FROM case_registration c JOIN conference_session s ON s.id = c.session_id "
        f"JOIN patient p ON p.id = c.patient_id JOIN board b ON b.id = s.board_id WHERE {IN_YEAR}",
    )
    t3 = _body(year, "T3")
    assert Counter((r[4], r[6]) for r in t3) == Counter((kind, status) for kind, status, *_ in rows)
    # Recurrence flag from the imported lists: "ja" where a recurrence is dated on or before the session day.
    events: dict[tuple[str, str], list[dt.date | None]] = defaultdict(list)
    for board, number, event in _sql(
        year.session,
        "SELECT b.short_name, pc.patient_number, pc.recurrence_date FROM qm_primary_case pc "
        "JOIN qm_primary_case_import i ON i.id = pc.import_id JOIN board b ON b.id = i.board_id",
    ):
        events[(board, number)].append(dt.date.fromisoformat(str(event)) if event else None)
    expected: Counter[str] = Counter()
    for _k, _s, _l, number, starts_at, board in rows:
        day = _aware(starts_at).astimezone(BERLIN).date()
        found = events.get((board, number))
        expected["" if found is None else "ja" if any(e and e <= day for e in found) else "nein"] += 1
    assert Counter(r[5] for r in t3) == expected and expected["ja"] > 0 and expected["nein"] > 0
    # Late registrations (T6) and the dashboard's monthly figures.
    assert len(_body(year, "T6b")) == sum(1 for r in rows if r[2])
    held_sessions = {
        sid
        for (sid,) in _sql(
            year.session,
            f"SELECT s.id FROM conference_session s WHERE s.status = 'planned' AND {IN_YEAR} "
            "AND EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id)",
        )
    }
    figure = next(f for f in _dashboard(year).figures if f.key == "faelle")
    in_held = Counter(
        kind
        for kind, status, sid in _sql(
            year.session,
            "SELECT c.conference_type, c.status, s.id FROM case_registration c "
            f"JOIN conference_session s ON s.id = c.session_id WHERE {IN_YEAR}",
        )
        if status == "discussed" and sid in held_sessions
    )
    assert {k: sum(int(r[n + 1]) for r in figure.rows) for n, k in enumerate(figure.header[1:])} == {
        k: in_held.get(k, 0) for k in figure.header[1:]
    }


def _aware(value) -> dt.datetime:
    value = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _dashboard(year: Year):
    from tumorboard.qm.services import build_dashboard

    return build_dashboard(year.session, boards=year.boards, period=YEAR, now=AT)


LATEST_FOLLOW_UP = (
    "SELECT c.id, c.patient_id, s.starts_at, f.status, f.cause, b.short_name FROM case_registration c "
    "JOIN conference_session s ON s.id = c.session_id JOIN board b ON b.id = s.board_id "
    "JOIN recommendation_follow_up f ON f.case_id = c.id "
    "WHERE f.id = (SELECT MAX(f2.id) FROM recommendation_follow_up f2 WHERE f2.case_id = c.id) "
    f"AND c.status = 'discussed' AND {IN_YEAR} AND s.status = 'planned' "
    "AND EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id)"
)


def test_t5_follow_up_r1_and_re_presentation(year):
    latest = _sql(year.session, LATEST_FOLLOW_UP)
    labels = {"medical": "medizinische Gründe", "patient_wish": "Patientenwunsch", "unknown": "unbekannt"}
    expected = Counter(
        "umgesetzt" if status == "implemented" else f"abgewichen: {labels[cause]}"
        for _, _, _, status, cause, _ in latest
    )
    assert {r[0]: int(r[1]) for r in _body(year, "T5")} == {
        k: expected.get(k, 0) for k in (r[0] for r in _body(year, "T5"))
    }
    assert set(expected) <= {r[0] for r in _body(year, "T5")}
    r1 = {r[0]: r for r in _body(year, "T0") if r[1] == "R1"}
    for board in {b.short_name for b in year.boards}:
        mine = [x for x in latest if x[5] == board]
        assert (int(r1[board][3]), int(r1[board][4])) == (sum(1 for x in mine if x[3] == "deviated"), len(mine))
    # Re-presentation: a later discussed case of the same patient in a session that was not cancelled.
    deviated = [x for x in latest if x[3] == "deviated"]
    presented: dict[int, list[dt.datetime]] = defaultdict(list)
    for patient, starts_at in _sql(
        year.session,
        "SELECT c.patient_id, s.starts_at FROM case_registration c JOIN conference_session s ON s.id = c.session_id "
        "WHERE c.status = 'discussed' AND s.status <> 'cancelled'",
    ):
        presented[patient].append(_aware(starts_at))
    again = sum(any(t > _aware(starts_at) for t in presented[patient]) for _cid, patient, starts_at, *_ in deviated)
    t5b = _body(year, "T5b")
    assert len(t5b) == len(deviated) and sum(1 for r in t5b if r[4] == "ja") == again > 0


def test_t6_amendments_late_registrations_and_missing_imaging(year):
    amendments = _sql(
        year.session,
        f"SELECT COUNT(*) FROM protocol_version v JOIN conference_session s ON s.id = v.session_id "
        f"WHERE v.version > 1 AND {IN_YEAR}",
    )[0][0]
    assert len(_body(year, "T6")) == amendments > 0
    assert all(r[5] and r[6] for r in _body(year, "T6"))  # reason and difference
    without = _sql(
        year.session,
        "SELECT COUNT(*) FROM case_registration c JOIN conference_session s ON s.id = c.session_id "
        f"WHERE c.status = 'discussed' AND c.imaging_expected AND s.status = 'planned' AND {IN_YEAR} "
        "AND EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id) "
        "AND NOT EXISTS (SELECT 1 FROM imaging_study i WHERE i.case_id = c.id AND i.first_received_at <= s.starts_at)",
    )[0][0]
    assert len(_body(year, "T6c")) == without > 0
    # Q1: cases of held sessions whose protocol was first signed within N working days.
    limit = {
        r[0]: int(r[1])
        for r in _sql(
            year.session,
            "SELECT b.short_name, d.working_days FROM qm_indicator_definition d JOIN board b ON 1 = 1 "
            "WHERE d.code = 'Q1' AND d.board_id IS NULL",
        )
    }
    timely: Counter[str] = Counter()
    discussed: Counter[str] = Counter()
    for board, starts_at, signed_at, n in _sql(
        year.session,
        "SELECT b.short_name, s.starts_at, (SELECT MIN(v.signed_at) FROM protocol_version v WHERE v.session_id = s.id),"
        " COUNT(c.id) FROM conference_session s JOIN board b ON b.id = s.board_id "
        "JOIN case_registration c ON c.session_id = s.id AND c.status = 'discussed' "
        f"WHERE s.status = 'planned' AND {IN_YEAR} AND EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id) "
        "GROUP BY b.short_name, s.id, s.starts_at",
    ):
        discussed[board] += n
        if signed_at is not None:
            first = _aware(starts_at).astimezone(BERLIN).date()
            last = _aware(signed_at).astimezone(BERLIN).date()
            days = sum(is_working_day(first + dt.timedelta(days=k)) for k in range(1, (last - first).days + 1))
            timely[board] += n if days <= limit[board] else 0
    for row in (r for r in _body(year, "T0") if r[1] == "Q1"):
        assert (int(row[3]), int(row[4])) == (timely[row[0]], discussed[row[0]])


def test_t4_presentation_quotas_from_the_imported_lists(year):
    t4 = {(r[0], r[1]): (int(r[2]), int(r[3])) for r in _body(year, "T4")}
    rules = {(r[0], r[1]): r[5] for r in _body(year, "T4")}
    assert {board for board, _ in t4} == set(year.imported)
    shown: dict[str, list[tuple[dt.date, str]]] = defaultdict(list)
    for number, starts_at, kind in _sql(
        year.session,
        "SELECT p.patient_number, s.starts_at, c.conference_type FROM case_registration c "
        "JOIN patient p ON p.id = c.patient_id JOIN conference_session s ON s.id = c.session_id "
        "WHERE c.status = 'discussed' AND s.status = 'planned'",
    ):
        shown[number].append((_aware(starts_at).astimezone(BERLIN).date(), kind))
    never = Counter((r[0], r[1]) for r in _body(year, "T4b"))
    for index, board in enumerate(year.imported):
        cases = _sql(
            year.session,
            "SELECT pc.patient_number, pc.diagnosis_date, pc.is_primary, pc.is_operated, pc.operation_date, "
            "pc.therapy_start, pc.recurrence_date, pc.icd10_code, pc.uicc_stage, pc.is_emergency "
            "FROM qm_primary_case pc "
            "JOIN qm_primary_case_import i ON i.id = pc.import_id JOIN board b ON b.id = i.board_id "
            "WHERE b.short_name = :b",
            b=board,
        )
        p1, p2, p3 = [0, 0], [0, 0], [0, 0]
        first_event: dict[str, dt.date] = {}
        for number, diag, primary, operated, op_day, therapy, event, icd, stage, emergency in cases:
            diag, op_day, therapy, event = (_day(x) for x in (diag, op_day, therapy, event))

            def cohort(
                code: str, index: int = index, icd: str = icd, stage: str = stage, emergency: bool = bool(emergency)
            ) -> bool:
                return _in_cohort(index, code, icd, stage, emergency)

            episode = [(d, k) for d, k in shown.get(number, []) if diag <= d <= diag + dt.timedelta(days=EPISODE_DAYS)]
            if primary and cohort("P1"):
                p1[1] += 1
                p1[0] += any(k == "praeth" and (therapy is None or d <= therapy) for d, k in episode)
            if primary and cohort("P2") and operated and op_day is not None:
                p2[1] += 1
                p2[0] += any(k in ("postop", "postth") and d >= op_day for d, k in episode)
            if event is not None and event.year == 2026 and event > diag and cohort("P3"):
                first_event[number] = min(event, first_event.get(number, event))
        for number, event in first_event.items():
            p3[1] += 1
            p3[0] += any(event <= d <= event + dt.timedelta(days=EPISODE_DAYS) for d, _ in shown.get(number, []))
        assert t4[(board, "P1")] == tuple(p1) and t4[(board, "P2")] == tuple(p2) and t4[(board, "P3")] == tuple(p3)
        assert p1[0] > 0 and p1[1] > p1[0]
        for code, (num, den) in (("P1", p1), ("P2", p2), ("P3", p3)):
            assert never[(board, code)] == den - num
        rule_code, rule = RULES[index]
        assert rules[(board, rule_code)] == rule  # the bundle names the restriction it applied


def _day(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def test_t7_cases_and_sessions_per_partner(year):
    expected = {
        (partner, board): (int(n), int(sessions))
        for partner, board, n, sessions in _sql(
            year.session,
            "SELECT pa.name, b.short_name, COUNT(*), COUNT(DISTINCT s.id) FROM case_registration c "
            "JOIN partner pa ON pa.id = c.referring_partner_id JOIN conference_session s ON s.id = c.session_id "
            f"JOIN board b ON b.id = s.board_id WHERE c.status <> 'withdrawn' AND {IN_YEAR} "
            "GROUP BY pa.name, b.short_name",
        )
    }
    assert {(r[0], r[1]): (int(r[2]), int(r[3])) for r in _body(year, "T7")} == expected and expected
