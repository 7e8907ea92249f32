"""The listener as the commands start it: `tumorboard run` (what `make run` runs) starts it with the web server and
the scheduler, and `imaging listen --host/--port/--ae-title` override the configuration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.imaging.conftest import free_port
from tests.imaging.dicomfiles import echoscu
from tests.live import DemoInstance

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "tumorboard"]


@pytest.fixture
def demo_env(tmp_path: Path, demo_instance: DemoInstance) -> dict[str, str]:
    """An instance with the demo loaded (``tumorboard db upgrade`` and ``demo load``, once per run, copied here)."""
    demo_instance.copy_to(tmp_path)
    env = {
        **os.environ,
        "TUMORBOARD_ENV": "development",
        "TUMORBOARD_INSTANCE_PATH": str(tmp_path),
        "TUMORBOARD_SECRET_KEY": "r" * 48,
        "TUMORBOARD_DICOM_PORT": str(free_port()),
    }
    env.pop("TUMORBOARD_DATABASE_URL", None)
    return env


def _wait_for_echo(port: int, proc: subprocess.Popen[bytes], log: Path, **kw: str) -> None:
    deadline = time.monotonic() + 30
    while echoscu(port, **kw).returncode != 0:
        if time.monotonic() > deadline or proc.poll() is not None:
            pytest.fail(log.read_text())
        time.sleep(0.3)


def test_run_starts_the_dicom_listener_and_ctrl_c_stops_it(demo_env, tmp_path):
    dicom_port = int(demo_env["TUMORBOARD_DICOM_PORT"])
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*CLI, "run", "--port", str(free_port())], env=demo_env, cwd=ROOT, stdout=log, stderr=log,
            start_new_session=True,
        )  # fmt: skip
        try:
            # The demo registers partner AE titles for 127.0.0.1.
            _wait_for_echo(dicom_port, proc, log_path, aet="NORDSTADT_GW")
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert echoscu(dicom_port, aet="NORDSTADT_GW").returncode != 0  # stopped with the others


def test_listen_options_override_the_configuration(demo_env, tmp_path):
    port = free_port()
    log_path = tmp_path / "listen.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*CLI, "imaging", "listen", "--host", "127.0.0.1", "--port", str(port), "--ae-title", "TB_TEST"],
            env=demo_env, cwd=ROOT, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            _wait_for_echo(port, proc, log_path, aet="SUEDPARK_PACS", aec="TB_TEST")
            assert echoscu(port, aet="SUEDPARK_PACS", aec="TUMORBOARD").returncode != 0  # not our title now
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)


def _as_a_background_job() -> None:
    """A non-interactive shell's `cmd &`: SIGINT and SIGQUIT ignored, inherited across exec (issue 16 found the
    leaked listeners of a backgrounded `make test` in that state)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


def test_a_listener_started_with_sigint_ignored_still_stops_on_sigint(demo_env, tmp_path):
    port = free_port()
    log_path = tmp_path / "listen.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*CLI, "imaging", "listen", "--port", str(port)], env=demo_env, cwd=ROOT, stdout=log, stderr=log,
            preexec_fn=_as_a_background_job,
        )  # fmt: skip
        try:
            _wait_for_echo(port, proc, log_path, aet="SUEDPARK_PACS")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
