"""The CLI on the demo data, including the calendar export acceptance check of issue 2."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import recurring_ical_events
from click.testing import CliRunner
from icalendar import Calendar

from tumorboard.cli import main
from tumorboard.clock import BERLIN

DEMO_TIMES = {
    "Viszeral": (1, dt.time(15, 15)),
    "Gyn": (0, dt.time(14, 30)),
    "Haut": (1, dt.time(15, 15)),
    "Kopf-Hals": (2, dt.time(16, 0)),
    "Lunge": (1, dt.time(16, 30)),
    "Neuro": (2, dt.time(15, 30)),
    "Prostata": (3, dt.time(16, 30)),
    "Brust": (0, dt.time(14, 30)),
    "Kinder": (2, dt.time(13, 45)),
}


def _run(runtime, *args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), obj=runtime, input=input, catch_exceptions=False)


def test_calendar_export_acceptance(runtime, demo):
    result = _run(runtime, "calendar", "export", "--from", "2027-03-22", "--weeks", "10")
    assert result.exit_code == 0, result.output
    raw = result.stdout_bytes
    # RFC 5545: CRLF line ends and folded lines of at most 75 octets
    assert b"\r\n" in raw and raw.replace(b"\r\n", b"").count(b"\n") == 0
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 75 for line in lines)
    assert any(line.startswith(b" ") for line in lines), "expected at least one folded line"
    cal = Calendar.from_ical(raw)
    assert cal.walk("VTIMEZONE")[0]["TZID"] == "Europe/Berlin"

    # an independent parser: recurring-ical-events expands the calendar on its own
    occurrences = recurring_ical_events.of(cal).between(dt.date(2027, 3, 22), dt.date(2027, 5, 31))
    by_board: dict[str, list[dt.datetime]] = defaultdict(list)
    for ev in occurrences:
        board = str(ev["SUMMARY"]).removeprefix("Tumorkonferenz ")
        by_board[board].append(ev["DTSTART"].dt)
    assert set(by_board) == set(DEMO_TIMES)
    days = {board: {start.date() for start in starts} for board, starts in by_board.items()}
    assert dt.date(2027, 3, 29) not in days["Gyn"] and dt.date(2027, 3, 29) not in days["Brust"]  # Ostermontag
    assert dt.date(2027, 5, 6) not in days["Prostata"]  # Christi Himmelfahrt
    assert dt.date(2027, 5, 27) not in days["Prostata"]  # Fronleichnam
    assert dt.date(2027, 4, 5) in days["Gyn"]  # the ordinary Monday after Easter week is there
    for board, starts in by_board.items():
        weekday, local = DEMO_TIMES[board]
        assert all(s.tzinfo is not None for s in starts)
        assert {s.astimezone(BERLIN).time() for s in starts} == {local}, board
        assert {s.astimezone(BERLIN).weekday() for s in starts} == {weekday}, board
        offsets = {s.astimezone(BERLIN).utcoffset() for s in starts}
        # both sides of the 2027-03-28 change: CET (+1) before, CEST (+2) after
        assert offsets == {dt.timedelta(hours=1), dt.timedelta(hours=2)}, board
    # ten Mondays less Ostermontag and Pfingstmontag (17 May); ten Thursdays less the two holidays
    assert dt.date(2027, 5, 17) not in days["Gyn"]
    assert len(by_board["Gyn"]) == 8 and len(by_board["Prostata"]) == 8 and len(by_board["Viszeral"]) == 10
    # the export contains no patient data
    assert b"M\xc3\xbcller" not in raw and b"KIS-9" not in raw


def test_calendar_export_of_one_board_and_stable_uids(runtime, demo):
    first = _run(runtime, "calendar", "export", "--board", "Prostata", "--from", "2027-01-04", "--weeks", "2")
    again = _run(runtime, "calendar", "export", "--board", "prostata", "--from", "2027-01-04", "--weeks", "2")
    uids = [str(e["UID"]) for e in Calendar.from_ical(first.stdout_bytes).walk("VEVENT")]
    assert len(uids) == 2
    assert uids == [str(e["UID"]) for e in Calendar.from_ical(again.stdout_bytes).walk("VEVENT")]


def test_sessions_list_json(runtime, demo):
    result = _run(
        runtime, "sessions", "list", "--board", "Viszeral", "--from", "2026-11-23", "--to", "2026-12-08", "--json"
    )
    assert result.exit_code == 0
    items = json.loads(result.stdout)
    assert [i["start"] for i in items] == [
        "2026-11-24T15:15:00+01:00",
        "2026-12-01T15:15:00+01:00",
        "2026-12-08T15:15:00+01:00",
    ]
    assert {i["board"] for i in items} == {"Viszeral"} and {i["status"] for i in items} == {"planned"}
    assert all(isinstance(i["id"], int) for i in items)


def test_cli_errors_are_german_with_exit_codes(runtime, demo):
    result = _run(runtime, "sessions", "list", "--board", "Zahnmedizin", "--from", "2026-11-23", "--to", "2026-11-30")
    assert result.exit_code == 1 and "Keine Konferenz heißt „Zahnmedizin“." in result.stderr
    result = _run(runtime, "sessions", "list", "--from", "2026-11-30", "--to", "2026-11-23")
    assert result.exit_code == 2 and "Ende des Zeitraums" in result.stderr
    result = _run(runtime, "calendar", "export", "--from", "23.11.2026", "--weeks", "1")
    assert result.exit_code == 2 and "kein Datum" in result.output


def test_create_user_and_demo_load_once(runtime, db_session):
    result = _run(
        runtime,
        "auth",
        "create-user",
        "--username",
        "dr.neu",
        "--display-name",
        "Dr. Neu",
        "--role",
        "physician",
        "--discipline",
        "Pathologie",
        "--efn",
        "802761234567896",
        input="sehr-geheimes-passwort\nsehr-geheimes-passwort\n",
    )
    assert result.exit_code == 0, result.output
    result = _run(
        runtime,
        "auth",
        "create-user",
        "--username",
        "dr.kurz",
        "--display-name",
        "Dr. Kurz",
        "--role",
        "physician",
        "--discipline",
        "Pathologie",
        "--efn",
        "123",
        input="sehr-geheimes-passwort\nsehr-geheimes-passwort\n",
    )
    assert result.exit_code == 2 and "EFN muss aus genau 15 Ziffern" in result.stderr
    assert "Demodaten geladen." in _run(runtime, "demo", "load").output
    assert "schon vorhanden" in _run(runtime, "demo", "load").output


def test_calendar_export_survives_a_bad_stored_link(runtime, demo):
    """Issue 12, point 3: a video link with CR LF saved before the validation existed costs that event its link,
    not the export: exit code 0, every board's events, no injected property."""
    from sqlalchemy import select

    from tumorboard.conferences.models import Board

    board = demo.scalars(select(Board).where(Board.short_name == "Gyn")).one()
    board.video_url = "https://video.example.org/gyn\r\nX-INJECTED:1"
    demo.commit()
    result = CliRunner().invoke(main, ["calendar", "export", "--from", "2027-03-22", "--weeks", "2"], obj=runtime)
    assert result.exit_code == 0 and result.exception is None, result.output
    raw = result.stdout_bytes
    assert b"X-INJECTED" not in raw.replace(b"\r\n ", b"")
    events = Calendar.from_ical(raw).walk("VEVENT")
    boards = {str(ev["SUMMARY"]).removeprefix("Tumorkonferenz ") for ev in events}
    assert boards == set(DEMO_TIMES)
    assert all("URL" not in ev for ev in events if str(ev["SUMMARY"]) == "Tumorkonferenz Gyn")
