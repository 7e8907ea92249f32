"""``tumorboard run``: web server, scheduler and DICOM listener as children of one small supervisor (one machine,
``make run``). Production runs the three as independent services instead (README, "Betrieb").

- A child that dies is logged and started again after a backoff (1 s, doubling to 30 s while it keeps dying within
  a minute of its start); the others keep serving.
- SIGINT (Ctrl-C), SIGTERM or SIGHUP stop all: SIGTERM to each child's process group, SIGKILL to what is left after
  :data:`GRACE` seconds, so everything is gone within 10 s and no process (not even a gunicorn worker) stays behind.
- Shutdown does not depend on inherited signal dispositions: a shell starts background jobs with SIGINT and SIGQUIT
  ignored, and ignored signals survive ``exec``. Each child gets default dispositions before it starts
  (:func:`_prepare_child`), runs in its own session (a terminal's Ctrl-C reaches only the supervisor, which decides),
  and receives SIGTERM, which no shell ignores. If the supervisor itself is killed, the kernel sends the children
  SIGTERM (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger(__name__)

#: Seconds between SIGTERM and SIGKILL when stopping; gunicorn is told to finish its requests within less.
GRACE = 7.0
#: Restart delays: first, cap, and how long a child must have run for its next death to count as a first one.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0
POLL = 0.2

_PR_SET_PDEATHSIG = 1
_RESET = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE)


def restore_default_signals() -> None:
    """At process start: SIGINT raises KeyboardInterrupt and SIGQUIT/SIGTERM terminate, whatever the starting
    process left ignored (Python keeps an inherited SIG_IGN for SIGINT instead of installing its handler)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGQUIT, signal.SIGTERM):
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)


def _prepare_child() -> None:  # pragma: no cover - runs in the forked child before exec
    for sig in _RESET:
        signal.signal(sig, signal.SIG_DFL)
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    deaths: int = 0  #: consecutive deaths within STABLE_AFTER of a start
    due: float = 0.0  #: monotonic time of the next start while proc is None
    history: list[int] = field(default_factory=list)  #: pids, oldest first

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, start_new_session=True, preexec_fn=_prepare_child)
        self.started_at = time.monotonic()
        self.history.append(self.proc.pid)
        log.info("%s started (pid %s)", self.name, self.proc.pid)

    def signal_group(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)


def backoff(deaths: int) -> float:
    """Seconds to wait before the next start after ``deaths`` consecutive quick deaths (1, 2, 4, … 30)."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, deaths - 1)))


def supervise(children: Sequence[Child]) -> int:
    """Run ``children`` until SIGINT, SIGTERM or SIGHUP; restart any that dies. Returns the exit code (0)."""
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        for child in children:
            child.start()
        while not stopping:
            now = time.monotonic()
            for child in children:
                if child.proc is None:
                    if now >= child.due and not stopping:
                        child.start()
                    continue
                code = child.proc.poll()
                if code is None:
                    continue
                ran = now - child.started_at
                child.deaths = 1 if ran >= STABLE_AFTER else child.deaths + 1
                delay = backoff(child.deaths)
                log.error("%s (pid %s) ended with %s after %.0f s; restart in %.0f s",
                          child.name, child.proc.pid, code, ran, delay)  # fmt: skip
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGKILL)  # what it left behind (workers of a killed master)
                child.proc, child.due = None, now + delay
            time.sleep(POLL)
        log.info("stopping (signal %s)", stopping[0])
    finally:
        _stop_all(children)
    return 0


def _stop_all(children: Sequence[Child]) -> None:
    for child in children:
        child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    for child in children:
        if child.proc is None:
            continue
        try:
            child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s (pid %s) still running after %.0f s; killed", child.name, child.proc.pid, GRACE)
        # The group too: a worker whose master exited, or the whole group after the timeout.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        child.proc.wait()
