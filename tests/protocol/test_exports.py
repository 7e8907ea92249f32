"""Documents (PDF/A per session, per case, attendance list, CME certificate; CSV), the CLI exports and the demo's
held and signed sessions. PDFs are read back with poppler's pdftotext."""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from tests.protocol.scenario import EFN, PASSWORD, minutes, rec_input
from tumorboard.attendance import services as att
from tumorboard.auth.services import actor_for
from tumorboard.cli import main
from tumorboard.exports.attendance import render_attendance_csv, render_cme_pdf
from tumorboard.exports.protocol import render_case_protocol_pdf, render_protocol_pdf
from tumorboard.exports.rendering import ExportTemplates
from tumorboard.protocol import services as proto

#: The export environments, as bootstrap builds them for a process.
TEMPLATES = ExportTemplates()


def pdftext(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def _held(db, sc):
    coord = actor_for(sc.coordinator)
    rows = [
        att.check_in(
            db,
            sc.cs,
            user=u,
            mode=m,
            recorded_by=sc.coordinator,
            signed=proto.is_signed(db, sc.cs),
            at=minutes(sc, 0),
            actor=coord,
        )
        for u, m in ((sc.radiologist, "video"), (sc.pathologist, "in_person"), (sc.oncologist, "in_person"))
    ]
    att.check_in(
        db, sc.cs, user=None, name="Dr. Eva Extern", institution="Praxis Münster", discipline="Gastroenterologie",
        efn=EFN, mode="video", stands_in_for_name="Dr. Abwesend", stands_in_for_discipline="Gastroenterologie",
        recorded_by=sc.coordinator, signed=proto.is_signed(db, sc.cs), at=minutes(sc, 0), actor=coord,
    )  # fmt: skip
    proto.record_recommendation(db, sc.cases[0], rec_input(), user=sc.coordinator, at=minutes(sc, 5), actor=coord)
    att.leave(db, rows[2], signed=proto.is_signed(db, rows[2].session), at=minutes(sc, 10), actor=coord)
    proto.record_recommendation(db, sc.cases[1], rec_input(therapy_types=["ST"], text="Radiatio"),
                                user=sc.coordinator, at=minutes(sc, 15), actor=coord)  # fmt: skip
    return rows


def test_session_and_case_pdfs_name_the_participants_of_each_case(db_session, scenario, tmp_path):
    sc, db = scenario, db_session
    _held(db, sc)
    render = lambda data: render_protocol_pdf(data, templates=TEMPLATES, generated_at=minutes(sc, 60))  # noqa: E731
    version = proto.sign_protocol(db, sc.cs, user=sc.radiologist, password=PASSWORD, render=render,
                                  at=minutes(sc, 60), actor=actor_for(sc.radiologist))  # fmt: skip
    assert "/OutputIntents" in PdfReader(io.BytesIO(version.pdf)).trailer["/Root"]  # PDF/A
    text = pdftext(version.pdf, tmp_path)
    assert "Teilnehmerliste" in text and "Version 1, unterschrieben von" in text
    cases = text.split("Fall ")[1:]
    first, second = (c for c in cases if c[:2] in ("1:", "2:"))
    assert sc.oncologist.display_name in first and sc.oncologist.display_name not in second
    for name in (sc.radiologist.display_name, sc.pathologist.display_name, "Dr. Eva Extern"):
        assert name in first and name in second
    assert "vertritt Dr. Abwesend" in first
    data = proto.protocol_data(db, sc.cs)
    data.version, data.signed_at, data.signed_by = 1, version.signed_at, version.signed_by_name
    case_pdf = pdftext(
        render_case_protocol_pdf(data, data.entries[0], templates=TEMPLATES, generated_at=minutes(sc, 61)), tmp_path
    )
    patient = sc.cases[0].patient
    expected = (patient.family_name, patient.patient_number, sc.cases[0].icd10_code, sc.cases[0].question,
                "OP (Operation)", sc.oncologist.display_name, sc.radiologist.display_name, "Version 1")  # fmt: skip
    for item in expected:
        assert item in case_pdf


def test_attendance_csv_and_cme_certificate(db_session, scenario, tmp_path):
    sc, db = scenario, db_session
    rows = _held(db, sc)
    csv = render_attendance_csv(att.list_attendance(db, sc.cs)).decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("Name;Institution;Fachrichtung;EFN;Modus")
    assert "Dr. Eva Extern;Praxis Münster;Gastroenterologie;802761234567896;Video" in csv
    cme = pdftext(render_cme_pdf(sc.cs, rows[0], templates=TEMPLATES, generated_at=minutes(sc, 60)), tmp_path)
    assert EFN in cme and sc.board.name in cme and sc.radiologist.display_name in cme
    assert sc.cs.local_start.strftime("%d.%m.%Y") in cme


def test_cli_exports_attendance_and_the_signed_protocol_byte_for_byte(runtime, db_session, scenario, tmp_path):
    sc, db = scenario, db_session
    _held(db, sc)
    version = proto.sign_protocol(db, sc.cs, user=sc.radiologist, password=PASSWORD,
                                  render=lambda d: render_protocol_pdf(d, templates=TEMPLATES,
                                                                       generated_at=minutes(sc, 60)),
                                  at=minutes(sc, 60), actor=actor_for(sc.radiologist))  # fmt: skip
    db.commit()
    runner = CliRunner()
    out = tmp_path / "p.pdf"
    result = runner.invoke(main, ["protocol", "export", str(sc.cs.id), "--out", str(out)], obj=runtime)
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(out.read_bytes()).hexdigest() == version.sha256
    for fmt in ("csv", "pdf"):
        target = tmp_path / f"a.{fmt}"
        result = runner.invoke(
            main, ["attendance", "export", str(sc.cs.id), "--format", fmt, "--out", str(target)], obj=runtime
        )
        assert result.exit_code == 0, result.output
    assert "Dr. Eva Extern" in (tmp_path / "a.csv").read_text(encoding="utf-8-sig")
    assert "Teilnehmerliste" in pdftext((tmp_path / "a.pdf").read_bytes(), tmp_path)
    missing = runner.invoke(main, ["protocol", "export", "999999", "--out", str(out)], obj=runtime)
    assert missing.exit_code == 1


def test_demo_history_has_one_signed_session_per_board_with_one_amendment(db_session, clock):
    from tumorboard.auth.actors import CLI
    from tumorboard.conferences.models import Board
    from tumorboard.demo.data import load_demo
    from tumorboard.protocol.models import ProtocolVersion

    assert load_demo(db_session, at=clock.now(), actor=CLI, horizon_weeks=2, history=True, templates=TEMPLATES)
    boards = db_session.scalars(select(Board)).all()
    versions = db_session.scalars(select(ProtocolVersion)).all()
    assert {v.session.board_id for v in versions} == {b.id for b in boards}
    assert sorted(v.version for v in versions).count(2) == 1
    assert all(v.sha256 == hashlib.sha256(v.pdf).hexdigest() and v.signed_at < clock.now() for v in versions)
    modes = {a.mode.value for v in versions for a in att.list_attendance(db_session, v.session)}
    assert modes == {"in_person", "video"}


def _split_inside(word: str, text: str) -> list[str]:
    """Places where ``word`` is broken across lines without a hyphen ("Ankun|ft")."""
    return [f"{word[:k]}|{word[k:]}" for k in range(1, len(word)) if f"{word[:k]}\n{word[k:]}" in text]


def test_table_headers_break_only_at_german_hyphenation_points(db_session, scenario):
    """Issue 12: the protocol's and attendance list's headings broke mid-word ("Ankun|ft", "Gegan|gen",
    "Leitlinienabweichu|ng"). Read back without -layout, so every line break of a cell is a newline."""
    from tumorboard.exports.attendance import render_attendance_pdf

    sc, db = scenario, db_session
    _held(db, sc)
    attendance = render_attendance_pdf(sc.cs, att.list_attendance(db, sc.cs), templates=TEMPLATES,
                                       generated_at=minutes(sc, 60))  # fmt: skip
    protocol = render_protocol_pdf(proto.protocol_data(db, sc.cs), templates=TEMPLATES, generated_at=minutes(sc, 60))
    for pdf in (attendance, protocol):
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
        joined = text.replace("\u2010\n", "").replace("-\n", "")
        for word in ("Ankunft", "Gegangen", "Fachrichtung", "Institution", "Leitlinienabweichung"):
            if word == "Leitlinienabweichung" and pdf is attendance:
                continue
            assert word in joined, word
            assert _split_inside(word, text) == [], word


def test_names_in_every_script_print_in_every_session_document_which_stays_pdf_a(db_session, scenario, tmp_path):
    """Issue 12, point 6, for the documents other than the agenda (tests/exports/test_fonts.py): a patient named in
    Chinese and participants in Korean and Arabic print as text — no empty boxes — and each PDF keeps its PDF/A
    claim (which WeasyPrint's .notdef warning would take away, tumorboard/exports/pdf.py)."""
    from tests.exports.test_fonts import claims_pdf_a
    from tumorboard.exports.attendance import render_attendance_pdf

    sc, db = scenario, db_session
    patient = sc.cases[0].patient
    patient.family_name, patient.given_name = "王", "小東"
    sc.radiologist.display_name = "Dr. 김희중"
    sc.pathologist.display_name = "د. سارة حداد"
    db.flush()
    rows = _held(db, sc)
    render = lambda data: render_protocol_pdf(data, templates=TEMPLATES, generated_at=minutes(sc, 60))  # noqa: E731
    version = proto.sign_protocol(db, sc.cs, user=sc.radiologist, password=PASSWORD, render=render,
                                  at=minutes(sc, 60), actor=actor_for(sc.radiologist))  # fmt: skip
    data = proto.protocol_data(db, sc.cs)
    data.version, data.signed_at, data.signed_by = 1, version.signed_at, version.signed_by_name
    documents = {
        "protocol": version.pdf,
        "case": render_case_protocol_pdf(data, data.entries[0], templates=TEMPLATES, generated_at=minutes(sc, 61)),
        "attendance": render_attendance_pdf(
            sc.cs, att.list_attendance(db, sc.cs), templates=TEMPLATES, generated_at=minutes(sc, 60)
        ),
        "cme": render_cme_pdf(sc.cs, rows[0], templates=TEMPLATES, generated_at=minutes(sc, 60)),
    }
    expected = {
        "protocol": ("王", "김희중", "سارة"),
        "case": ("王", "小東", "김희중"),
        "attendance": ("김희중", "سارة"),
        "cme": ("김희중",),
    }
    for kind, pdf in documents.items():
        text = pdftext(pdf, tmp_path)
        assert all(name in text for name in expected[kind]), (kind, text[:500])
        assert claims_pdf_a(pdf), kind
