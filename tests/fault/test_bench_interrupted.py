"""A bench told to stop (SIGTERM, as `timeout` or a CI runner does) stops what it started: its
`finally` runs (bench/__init__.py), so its nats-server does not outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What every bench does: a nats-server, then work in try/finally that stops it.
BENCH = """
import sys, time
from pathlib import Path
import bench  # noqa: F401 - what `python -m bench.x` imports first
from libs.platform.tools.natsserver import EmbeddedNats
nats = EmbeddedNats(Path(sys.argv[1]))
nats.start()
try:
    print(nats.proc.pid, flush=True)
    time.sleep(60)
finally:
    nats.stop()
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is gone too (its parent has not reaped it yet)
        return f.read().split(")")[-1].split()[0] != "Z"


def test_a_bench_told_to_stop_stops_its_nats_server(tmp_path: Path) -> None:
    bench = subprocess.Popen([sys.executable, "-c", BENCH, str(tmp_path / "nats")], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    nats_pid = 0
    try:
        nats_pid = int(bench.stdout.readline())  # type: ignore[union-attr]
        assert alive(nats_pid)
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=30) == 128 + signal.SIGTERM
        deadline = time.monotonic() + 10
        while alive(nats_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(nats_pid), "the bench's nats-server outlived it"
    finally:
        bench.kill()
        bench.wait()
        if nats_pid and alive(nats_pid):
            os.kill(nats_pid, signal.SIGKILL)
