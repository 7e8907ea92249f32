"""The single-machine command: `tumorboard run` starts gunicorn (app:app) and the scheduler, and Ctrl-C (SIGINT)
stops both cleanly. Runs the real processes on a free loopback port with a temporary SQLite instance."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_serves_and_stops_on_ctrl_c(tmp_path):
    env = {
        **os.environ,
        "TUMORBOARD_ENV": "development",
        "TUMORBOARD_INSTANCE_PATH": str(tmp_path),
        "TUMORBOARD_SECRET_KEY": "r" * 48,
        "TUMORBOARD_DICOM_PORT": str(_free_port()),  # the listener starts too; 11112 may be taken
    }
    env.pop("TUMORBOARD_DATABASE_URL", None)
    cli = [sys.executable, "-m", "tumorboard"]
    subprocess.run([*cli, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([*cli, "demo", "load"], env=env, cwd=ROOT, check=True, capture_output=True)
    port = _free_port()
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*cli, "run", "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
                    assert response.status == 200
                    assert "Anmelden" in response.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail((tmp_path / "run.log").read_text())
                time.sleep(0.3)
        # A calendar feed URL carries its token: gunicorn's access log must not (the token here is made up; the
        # answer is 404, and the line is written all the same).
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/feeds/SeCrEtToKeN4711/all.ics", timeout=5)
        # Before Ctrl-C: the feed request's access-log line is written (it follows the answer; a signal between
        # the two makes gunicorn log the request as failed), and the scheduler and the listener are up (under load
        # they start after gunicorn).
        ready = ('"GET /feeds/…/all.ics HTTP/1.1" 404', "scheduler started", "DICOM listener")
        while not all(m in (tmp_path / "run.log").read_text() for m in ready):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail((tmp_path / "run.log").read_text())
            time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert "scheduler stopped" in output and "Shutting down: Master" in output
    assert '"GET /feeds/…/all.ics HTTP/1.1" 404' in output and "SeCrEtToKeN4711" not in output
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
