"""``tumorboard agenda export`` on the demo data: by id or by board and date, PDF and CSV, German errors."""

from __future__ import annotations

import csv
import io
import subprocess

from click.testing import CliRunner
from sqlalchemy import select

from tumorboard.cases.models import Case
from tumorboard.cli import main
from tumorboard.conferences.models import Board, ConferenceSession


def _run(runtime, *args: str):
    return CliRunner().invoke(main, list(args), obj=runtime, catch_exceptions=False)


def _viszeral_session(db) -> ConferenceSession:
    """The demo's Viszeral session of Tue 24.11.2026 (it has registered cases)."""
    board = db.scalar(select(Board).where(Board.short_name == "Viszeral"))
    sessions = db.scalars(
        select(ConferenceSession).where(ConferenceSession.board_id == board.id).order_by(ConferenceSession.starts_at)
    ).all()
    cs = next(s for s in sessions if s.local_start.date().isoformat() == "2026-11-24")
    return cs


def test_export_pdf_by_session_id(runtime, demo, tmp_path):
    cs = _viszeral_session(demo)
    names = [
        f"{c.patient.family_name}, {c.patient.given_name}"
        for c in demo.scalars(select(Case).where(Case.session_id == cs.id).order_by(Case.position))
    ]
    assert names, "the demo registers cases on the next sessions"
    out = tmp_path / "tagesordnung.pdf"
    result = _run(runtime, "agenda", "export", str(cs.id), "--format", "pdf", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"Sitzung {cs.id}" in result.output and "Entwurf" in result.output
    assert not any(name in result.output for name in names)  # no patient data on the terminal
    assert out.read_bytes().startswith(b"%PDF-")
    text = " ".join(
        subprocess.run(["pdftotext", str(out), "-"], capture_output=True, check=True).stdout.decode().split()
    )
    assert "Tagesordnung · Viszeral" in text and "Seite 1 von" in text
    positions = [text.index(name) for name in names]
    assert positions == sorted(positions)
    assert [p.name for p in tmp_path.iterdir()] == ["tagesordnung.pdf"]  # no temporary file left behind


def test_export_csv_by_board_and_date(runtime, demo, tmp_path):
    cs = _viszeral_session(demo)
    count = len(demo.scalars(select(Case).where(Case.session_id == cs.id)).all())
    out = tmp_path / "agenda.csv"
    result = _run(
        runtime, "agenda", "export", "--board", "viszeral", "--date", "2026-11-24", "--format", "csv", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert len(rows) == count + 1 and [r[0] for r in rows[1:]] == [str(n) for n in range(1, count + 1)]
    assert raw.decode("utf-8-sig").startswith("Nr.;Patient;Geburtsdatum;")


def test_errors_are_german_with_exit_codes(runtime, demo, tmp_path):
    out = str(tmp_path / "x.pdf")
    result = _run(runtime, "agenda", "export", "--format", "pdf", "--out", out)
    assert result.exit_code == 2 and "Bitte SESSION_ID oder --board und --date angeben." in result.stderr
    cs = _viszeral_session(demo)
    result = _run(runtime, "agenda", "export", str(cs.id), "--board", "Viszeral", "--format", "pdf", "--out", out)
    assert result.exit_code == 2 and "nicht beides" in result.stderr
    result = _run(runtime, "agenda", "export", "999999", "--format", "pdf", "--out", out)
    assert result.exit_code == 1 and "Diese Sitzung gibt es nicht." in result.stderr
    result = _run(
        runtime, "agenda", "export", "--board", "Zahnmedizin", "--date", "2026-11-24", "--format", "pdf", "--out", out
    )
    assert result.exit_code == 1 and "Keine Konferenz heißt „Zahnmedizin“." in result.stderr
    result = _run(
        runtime, "agenda", "export", "--board", "Viszeral", "--date", "2026-11-25", "--format", "pdf", "--out", out
    )
    assert result.exit_code == 1 and "Am 25.11.2026 gibt es keine Sitzung der Konferenz Viszeral." in result.stderr
    result = _run(
        runtime, "agenda", "export", "--board", "Viszeral", "--date", "24.11.2026", "--format", "pdf", "--out", out
    )
    assert result.exit_code == 2 and "kein Datum" in result.output
    result = _run(runtime, "agenda", "export", str(cs.id), "--format", "pdf", "--out", str(tmp_path / "nope" / "x.pdf"))
    assert result.exit_code == 2 and "Verzeichnis" in result.stderr
    assert not list(tmp_path.iterdir())


def test_web_and_cli_download_the_same_agenda(runtime, app, client, demo, tmp_path):
    """One download path (exports.downloads.agenda_download) behind the page's link and the CLI."""
    from tests.conftest import login
    from tumorboard.audit.models import AuditEvent

    cs = _viszeral_session(demo)
    out = tmp_path / "agenda.csv"
    assert _run(runtime, "agenda", "export", str(cs.id), "--format", "csv", "--out", str(out)).exit_code == 0
    login(client, "koordination")
    response = client.get(f"/sessions/{cs.id}/agenda.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="tagesordnung-viszeral-2026-11-24.csv"'
    assert response.data == out.read_bytes()
    logged = demo.scalars(select(AuditEvent).where(AuditEvent.tag == "case:agenda:export")).all()
    assert [(e.subject_id, e.after) for e in logged] == [(str(cs.id), {"format": "csv", "version": None})]
