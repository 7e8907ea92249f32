"""The audit evidence bundle (issue 11): CLI and background job, ZIP contents checked file by file."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import subprocess
import zipfile

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from tests.conftest import NOW, csrf_from, login
from tests.factories import make_board, make_user
from tests.qm.activity import build_activity
from tumorboard.audit.models import AuditEvent
from tumorboard.auth.actors import CLI
from tumorboard.cli import main
from tumorboard.exports.qm_bundle import render_table_csv
from tumorboard.protocol.models import ProtocolVersion
from tumorboard.qm.bundle import collect_bundle
from tumorboard.qm.bundles import STALE_AFTER, claim_next, request_bundle
from tumorboard.qm.jobs import build_bundles
from tumorboard.qm.models import BundleJob, BundleStatus
from tumorboard.qm.period import year_period
from tumorboard.qm.services import resolve_boards

YEAR = year_period(2025)


@pytest.fixture
def activity(db_session):
    weekly = make_board(db_session, NOW, series_start=dt.date(2024, 1, 2))
    monthly = make_board(db_session, NOW, series_start=dt.date(2024, 1, 3), rrule="FREQ=MONTHLY;BYDAY=1WE")
    clerk = make_user(db_session, NOW)
    built = build_activity(
        db_session, [weekly, monthly], first=YEAR.first, last=YEAR.last, clerk=clerk, at=NOW, max_cases=3
    )
    db_session.commit()
    return [weekly, monthly], built


def _bundle(runtime, tmp_path, name="b.zip", board="all"):
    out = tmp_path / name
    result = CliRunner().invoke(
        main, ["qm", "bundle", "--board", board, "--from", "2025-01-01", "--to", "2025-12-31", "--out", str(out)],
        obj=runtime, catch_exceptions=False,
    )  # fmt: skip
    return result, out


def _check_zip(body: bytes) -> tuple[dict, dict[str, bytes]]:
    archive = zipfile.ZipFile(io.BytesIO(body))
    files = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(files.pop("manifest.json"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == set(files)
    for path, data in files.items():
        assert hashlib.sha256(data).hexdigest() == listed[path]["sha256"] and len(data) == listed[path]["size"]
    return manifest, files


def test_cli_bundle_contents(runtime, db_session, activity, tmp_path):
    boards, built = activity
    result, out = _bundle(runtime, tmp_path)
    assert result.exit_code == 0, result.output
    assert "Protokolle" in result.stderr  # progress on the terminal
    body = out.read_bytes()
    manifest, files = _check_zip(body)
    assert manifest["period"] == {"from": "2025-01-01", "to": "2025-12-31", "label": "2025"}
    assert {b["short_name"] for b in manifest["boards"]} == {b.short_name for b in boards}
    assert manifest["generated_by"] == "system:cli" and manifest["product_version"]
    assert {d["code"] for d in manifest["indicator_definitions"]} >= {"A1", "H1", "Q1", "R1"}
    assert all(d["version"] == 1 for d in manifest["indicator_definitions"])

    # Every signed protocol version byte for byte.
    ids = ",".join(str(cs.id) for cs in built.sessions)
    stored = db_session.execute(text(f"SELECT pdf FROM protocol_version WHERE session_id IN ({ids})")).scalars().all()  # noqa: S608
    packed = [data for path, data in files.items() if path.startswith("protokolle/")]
    assert len(packed) == len(stored) > 0 and sorted(packed) == sorted(bytes(p) for p in stored)

    # Each CSV reads back with the csv module; T1 has one row per session, T1b the held counts of plain SQL.
    tables = {
        p: list(csv.reader(io.StringIO(d.decode("utf-8-sig")), delimiter=";"))
        for p, d in files.items()
        if p.endswith(".csv")
    }
    assert {p.split("/")[1].split("_")[0] for p in tables} == {
        "T0",
        "T1",
        "T1b",
        "T2",
        "T2b",
        "T3",
        "T4",
        "T4b",
        "T5",
        "T5b",
        "T6",
        "T6b",
        "T6c",
        "T7",
    }
    assert len(tables["tabellen/T1_sitzungen.csv"]) == 1 + len(built.sessions)
    held = db_session.execute(
        text(
            f"SELECT COUNT(*) FROM conference_session s WHERE s.id IN ({ids}) AND s.status = 'planned' "  # noqa: S608
            "AND EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = s.id)"
        )
    ).scalar_one()
    assert sum(int(r[2]) for r in tables["tabellen/T1b_durchfuehrung.csv"][1:]) == held
    attendance = db_session.execute(text(f"SELECT COUNT(*) FROM attendance WHERE session_id IN ({ids})")).scalar_one()  # noqa: S608
    assert len(tables["tabellen/T2_anwesenheit.csv"]) == 1 + attendance

    # Every PDF is PDF/A (XMP identification) and its text extracts; figures are vector graphics, not images.
    pdfs = {p: d for p, d in files.items() if p.endswith(".pdf") and not p.startswith("protokolle/")}
    assert "zusammenfassung.pdf" in pdfs and len(pdfs) == 1 + len(tables)
    for path, data in pdfs.items():
        meta = subprocess.run(["pdfinfo", "-meta", "-"], input=data, capture_output=True, check=True).stdout.decode()
        assert 'pdfaid:part="3"' in meta, path
        extracted = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout
        assert extracted.strip(), path
    images = subprocess.run(
        ["pdfimages", "-list", "-"], input=pdfs["zusammenfassung.pdf"], capture_output=True, check=False
    )
    summary_text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdfs["zusammenfassung.pdf"], capture_output=True, check=True
    ).stdout.decode()
    assert "Sitzungen geplant und durchgeführt je Monat" in summary_text and "Monat" in summary_text
    assert images.stdout.count(b"\n") <= 2  # header lines only: the charts are drawn, not embedded as pixels

    # The bundle's own SHA-256 is in the audit log.
    digest = hashlib.sha256(body).hexdigest()
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "qm:bundle:build")).all()
    assert any((e.after or {}).get("sha256") == digest for e in events)

    # The same period twice: byte-identical tables. Collected and written again as the bundle does; a second whole
    # bundle through the CLI rendered its 13 PDFs and 7 charts once more (half of this test's CPU) to compare CSVs.
    again = collect_bundle(db_session, boards=resolve_boards(db_session, None), period=YEAR, now=NOW)
    assert {f"tabellen/{t.key}.csv" for t in again.tables} == set(tables)
    for table in again.tables:
        assert render_table_csv(table) == files[f"tabellen/{table.key}.csv"], table.key


def test_a_protocol_that_no_longer_matches_its_hash_stops_the_bundle(runtime, db_session, activity, tmp_path):
    boards, built = activity
    cs = next(cs for cs in built.sessions if cs.board_id == boards[0].id and cs.ends_at < NOW)
    clerk = make_user(db_session, NOW)
    latest = (
        db_session.scalar(
            select(ProtocolVersion.version)
            .where(ProtocolVersion.session_id == cs.id)
            .order_by(ProtocolVersion.version.desc())
            .limit(1)
        )
        or 0
    )
    db_session.add(
        ProtocolVersion(session_id=cs.id, version=latest + 1, signed_at=NOW, signed_by_id=clerk.id, signed_by_name="X",
                        reason="Nachtrag", text="x", pdf=b"%PDF-tampered", sha256="0" * 64)
    )  # fmt: skip
    db_session.commit()
    result, out = _bundle(runtime, tmp_path, board=boards[0].short_name)
    assert result.exit_code == 1 and "passt nicht zu ihrer Prüfsumme" in result.stderr
    assert not out.exists()


def test_background_job_survives_a_web_restart_and_qm_downloads(app, runtime, db_session, activity):
    boards, _ = activity
    make_user(db_session, NOW, role="qm", username="qm1")
    make_user(db_session, NOW, role="physician", username="doc1")
    db_session.commit()
    doc = app.test_client()
    login(doc, "doc1", "correct horse battery")
    token = csrf_from(doc.get("/").text)
    assert doc.post("/qm/bundles", data={"csrf_token": token, "period": "year", "year": "2025"}).status_code == 403
    assert doc.get("/qm/").status_code == 403
    qm = app.test_client()
    login(qm, "qm1", "correct horse battery")
    page = qm.get(f"/qm/?board={boards[1].id}&period=year&year=2025")
    response = qm.post(
        "/qm/bundles",
        data={"csrf_token": csrf_from(page.text), "board": str(boards[1].id), "period": "year", "year": "2025"},
    )
    assert response.status_code == 303
    job_url = response.headers["Location"]
    status = qm.get(job_url)
    assert 'data-status="queued"' in status.text and 'http-equiv="refresh"' in status.text
    # The web process restarts: a new app over the same database sees the same job.
    from tumorboard.web import create_app

    restarted = create_app(runtime).test_client()
    login(restarted, "qm1", "correct horse battery")
    assert 'data-status="queued"' in restarted.get(job_url).text
    assert build_bundles(runtime) == 1  # what the scheduler process runs
    done = restarted.get(job_url)
    assert 'data-status="done"' in done.text
    download = restarted.get(job_url + ".zip")
    body = download.data
    download.close()  # send_file streams from the file; close it
    assert download.status_code == 200
    manifest, _ = _check_zip(body)
    assert [b["short_name"] for b in manifest["boards"]] == [boards[1].short_name]
    assert doc.get(job_url + ".zip").status_code == 403 and doc.get(job_url).status_code == 403
    assert build_bundles(runtime) == 0  # idempotent: nothing queued, nothing done


def test_the_bundle_download_is_audited_and_its_checksum_checked(app, runtime, db_session, activity):
    """The ZIP holds every signed protocol of the period (patient data): each download is an event, like the oBDS
    download; a file changed after it was built is refused, not served."""
    from tumorboard.qm.models import BundleJob

    boards, _ = activity
    make_user(db_session, NOW, role="qm", username="qm2")
    db_session.commit()
    job = request_bundle(
        db_session, board=boards[0], period=YEAR, requested_by_id=None, requested_by_name="QM", at=NOW, actor=CLI
    )
    db_session.commit()
    assert build_bundles(runtime) == 1
    qm = app.test_client()
    login(qm, "qm2", "correct horse battery")
    download = qm.get(f"/qm/bundles/{job.id}.zip")
    download.close()
    assert download.status_code == 200
    events = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "qm:bundle:download")).all()
    assert [(e.subject_type, e.subject_id, e.actor_label) for e in events] == [("qm_bundle", str(job.id), "user:qm2")]
    db_session.expire_all()
    path = runtime.settings.instance_path / "qm-bundles" / db_session.get(BundleJob, job.id).file_name
    path.write_bytes(path.read_bytes() + b"x")
    refused = qm.get(f"/qm/bundles/{job.id}.zip")
    assert refused.status_code == 400 and "stimmt nicht mehr mit ihrer Prüfsumme überein" in refused.text
    assert len(db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "qm:bundle:download")).all()) == 1


def _request(session, board):
    return request_bundle(
        session, board=board, period=YEAR, requested_by_id=None, requested_by_name="QM", at=NOW, actor=CLI
    )


def test_a_job_left_running_by_a_dead_scheduler_is_taken_up_again(db_session, activity):
    boards, _ = activity
    job = request_bundle(
        db_session, board=boards[0], period=YEAR, requested_by_id=None, requested_by_name="QM", at=NOW, actor=CLI
    )
    assert (
        request_bundle(
            db_session, board=boards[0], period=YEAR, requested_by_id=None, requested_by_name="QM", at=NOW, actor=CLI
        )
        is job
    )
    requested = db_session.scalars(select(AuditEvent).where(AuditEvent.tag == "qm:bundle:request")).all()
    assert [(e.subject_id, e.after["first_day"]) for e in requested] == [(str(job.id), YEAR.first.isoformat())]
    assert claim_next(db_session, now=NOW) is job and job.status is BundleStatus.RUNNING
    assert claim_next(db_session, now=NOW + dt.timedelta(minutes=1)) is None  # alive: not taken twice
    db_session.refresh(job)
    assert claim_next(db_session, now=NOW + STALE_AFTER + dt.timedelta(minutes=1)) is job
    assert db_session.scalar(select(BundleJob.status).where(BundleJob.id == job.id)) is BundleStatus.RUNNING


def test_the_job_page_speaks_the_readers_language(app, runtime, db_session, activity):
    """The job's message is stored as catalogue text and shown translated; the list names each job's state."""
    qm_user = make_user(db_session, NOW, role="qm", username="qm3")
    db_session.commit()
    qm = app.test_client()
    login(qm, "qm3", "correct horse battery")
    page = qm.get("/qm/?period=year&year=2025")
    response = qm.post("/qm/bundles", data={"csrf_token": csrf_from(page.text), "period": "year", "year": "2025"})
    job_url = response.headers["Location"]
    german = qm.get(job_url).text
    assert "in der Warteschlange – In der Warteschlange" in german
    qm_user.locale = "en"
    db_session.commit()
    english = qm.get(job_url).text
    assert "In der Warteschlange" not in english and "in der Warteschlange" not in english
    assert "queued – Queued" in english and ": queued</li>" in english
    assert build_bundles(runtime) == 1
    done = qm.get(job_url).text
    assert "Fertig" not in done and "Done" in done
