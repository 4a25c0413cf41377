"""Benchmarks (`python -m bench.<name>`). Every bench stops what it started when it is interrupted.

Each bench stops its nats-server, its uvicorn threads and its databases in `finally` blocks, which
run on an exception and on Ctrl-C (KeyboardInterrupt), but not when the process is told to stop by
SIGTERM (`timeout`, `kill`, a CI runner giving up) or SIGHUP (its terminal closed): Python's default
action for those ends the process at once, and the nats-server child lived on, holding its port and
its store. Importing this package (which `python -m bench.x` does first) turns both signals into
SystemExit in the main thread, so the same `finally` blocks run.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP raise SystemExit in the main thread (only it may set handlers)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _exit)


stop_on_signals()
