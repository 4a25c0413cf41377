"""Long CLI work shows count, rate and ETA on a terminal and nothing in a pipe (issue 18): `tsunagu
replay` and `tsunagu audit verify` run as processes, once with pipes and once on a pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from libs.platform.web.auth import mint_token
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import JWT_SECRET, eventually, published

# tqdm's line: "reading INTAKE: 100%|████| 2/2 [00:00<00:00, 812.3messages/s]" (count, elapsed<ETA,
# rate; below one a second it says "2.92s/records")
BAR = re.compile(r"(\d+)/(\d+) \[\d\d:\d\d<\d\d:\d\d, +[\d.]+(?:s/)?(messages|records)(?:/s)?\]")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "libs.platform.tools.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "TSUNAGU_JWT_SECRET": JWT_SECRET, "COLUMNS": "120"}


def _on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run argv with stdout and stderr on a pseudo-terminal of 120 columns; its exit code and output."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=child, stderr=child, env=_env())
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO: the child side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return proc.wait(timeout=120), b"".join(chunks).decode(errors="replace")


def test_replay_and_verify_show_progress_on_a_terminal_and_stay_quiet_in_a_pipe(nats_server, start_service,
                                                                                  tmp_path: Path):
    intake = start_service("intake", nats_server.url, audit_interval_seconds=0.5)
    _setup_case(intake)
    count = len(published(intake, nats_server.url))
    # verify's total (for its ETA) is the latest checkpoint's size: wait for one over every event
    eventually(lambda: intake.runtime.require_audit().latest_size >= count)
    replay = _cli("replay", "--nats", nats_server.url, "--stream", "INTAKE", "--out", str(tmp_path / "out.jsonl"))
    token = mint_token(JWT_SECRET, sub="auditor", org="000000", roles=["auditor"])
    verify = _cli("audit", "verify", "--url", intake.url, "--token", token, "--nats", nats_server.url,
                  "--stream", "INTAKE")

    piped = subprocess.run(replay, capture_output=True, text=True, env=_env(), timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == f"wrote {count} events of INTAKE to {tmp_path / 'out.jsonl'}\n"
    assert piped.stderr == ""  # no bar, no control characters in a pipe or a log file
    piped = subprocess.run(verify, capture_output=True, text=True, env=_env(), timeout=120)
    assert piped.stdout.startswith("intake: ") and piped.stderr == "", piped

    code, shown = _on_a_terminal(replay)
    assert code == 0, shown
    assert f"wrote {count} events of INTAKE" in shown
    bars = [m for m in BAR.finditer(shown) if m.group(3) == "messages"]
    assert bars and bars[-1].group(1) == bars[-1].group(2) == str(count), shown
    assert "reading INTAKE" in shown

    code, shown = _on_a_terminal(verify)
    assert "intake: " in shown and "verifying " in shown, shown
    assert any(m.group(3) == "messages" for m in BAR.finditer(shown)), shown
    # the records' total is known only once a checkpoint exists (about twice its size): a count and
    # a rate either way
    assert re.search(r"verifying \S+: (?:\d+%\|[^|]*\| )?\d+(?:/\d+)?(?:records)? ?\[[^\]]*records/s\]", shown), shown
