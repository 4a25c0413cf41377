"""Talking to a running `tsunagu run`: stop, start or restart one service, or ask what runs.

The launcher keeps its process id in `var/launcher/pid` and looks every few tenths of a second in
`var/launcher/requests/` for `<id>.json` ({"action": "restart", "service": "reporting"}). It
carries out each request in turn, writes `<id>.reply` ({"ok": ..., "message": ...}) and removes
the request. Files rather than a socket or signals: nothing to bind, a request per service, the
permissions of var/ (the operator's), and an operator can see what is pending with `ls`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from libs.platform.settings import var_dir

ACTIONS = ("start", "stop", "restart", "status")


class LauncherNotRunning(RuntimeError):
    pass


def control_dir(var: Path | None = None) -> Path:
    return (var or var_dir()) / "launcher"


class Mailbox:
    """The launcher's side."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests_dir = root / "requests"

    def open(self) -> None:
        self.requests_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.requests_dir.iterdir():  # left by a launcher that is gone: nobody waits any more
            stale.unlink(missing_ok=True)
        (self.root / "pid").write_text(str(os.getpid()))

    def close(self) -> None:
        (self.root / "pid").unlink(missing_ok=True)

    def requests(self) -> Iterator[tuple[Path, dict]]:
        for path in sorted(self.requests_dir.glob("*.json")):  # names start with the time they were made
            try:
                request = json.loads(path.read_text())
            except (OSError, ValueError):
                request = {}
            yield path, request

    def reply(self, request: Path, ok: bool, message: str) -> None:
        reply = request.with_suffix(".reply")
        partial = reply.with_suffix(".partial")
        partial.write_text(json.dumps({"ok": ok, "message": message}))
        partial.replace(reply)  # whole or not at all
        request.unlink(missing_ok=True)


def launcher_pid(root: Path | None = None) -> int | None:
    """The running launcher's process id, or None."""
    try:
        pid = int(((root or control_dir()) / "pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def ask(action: str, service: str | None = None, *, timeout: float = 150.0, root: Path | None = None) -> dict:
    """Send one request to the launcher and wait for its reply."""
    root = root or control_dir()
    if launcher_pid(root) is None:
        raise LauncherNotRunning(f"no `tsunagu run` is running with its files in {root.parent} "
                                 "(run this from the directory you started it in, or set TSUNAGU_VAR)")
    requests = root / "requests"
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
    partial = requests / f"{name}.partial"
    partial.write_text(json.dumps({"action": action, "service": service}))
    partial.replace(requests / f"{name}.json")
    reply = requests / f"{name}.reply"
    deadline = time.monotonic() + timeout
    while not reply.exists():
        if time.monotonic() > deadline or launcher_pid(root) is None:
            (requests / f"{name}.json").unlink(missing_ok=True)
            raise LauncherNotRunning(f"the launcher did not answer within {timeout:.0f} s")
        time.sleep(0.1)
    answer = json.loads(reply.read_text())
    reply.unlink(missing_ok=True)
    return answer
