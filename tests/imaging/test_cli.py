"""The listener as `imaging listen` starts it: `--host/--port/--ae-title` override the configuration, and SIGINT stops
it even when it was started with SIGINT ignored. Under `tumorboard run` (what `make run` runs) it is tested in
tests/test_processes.py: it answers C-ECHO there, and Ctrl-C stops it with the others."""

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
        "TUMORBOARD_DICOM_WORKERS": "2",
    }
    env.pop("TUMORBOARD_DATABASE_URL", None)
    return env


def _children(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").glob("*/children") for child in task.read_text().split()]


def _wait_for_echo(port: int, proc: subprocess.Popen[bytes], log: Path, **kw: str) -> None:
    deadline = time.monotonic() + 30
    while echoscu(port, **kw).returncode != 0:
        if time.monotonic() > deadline or proc.poll() is not None:
            pytest.fail(log.read_text())
        time.sleep(0.3)


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
            workers = _children(proc.pid)
            assert workers, "no worker process"  # TUMORBOARD_DICOM_WORKERS=2 (demo_env)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0
            assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]  # stopped with it
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
