"""Database round trips of one command (issue 15): POST /v1/cases/{id}/consultations on the intake
service (or /outreach-visits: --command visit), sequential, counted by kind and by the thread that
made them, per command.

Run from the repository root:  .venv/bin/python -m bench.trips [--n 200] [--backends postgresql]
[--command consultation|visit] [--dispatch]

With --dispatch, the dispatch service runs in the same process and consumes INTAKE: its consumers'
round trips are background ones too (it does nothing with a consultation: what it writes for one is
only a position).

Counted with SQLAlchemy's events on every engine and pool of the process: each statement
(`before_cursor_execute`, named by its verb and table), each BEGIN the driver will send (the first
statement of a connection not in autocommit and idle), each COMMIT/ROLLBACK that finds a transaction
open, each ping at a pool's checkout (pool_pre_ping, store/db.ping_writes_only: a `SELECT 1`).
A request's own round trips are those of the thread pool that runs FastAPI's `def` endpoints
("AnyIO worker"); the relay's and followers' (asyncio.to_thread: "asyncio_") are shown apart, as is
what the event loop runs itself.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from bench.goals import uptime
from bench.serving import Served, drain, drive, open_cases
from libs.platform.tools.natsserver import EmbeddedNats
from services.dispatch.bootstrap import create_app as create_dispatch_app
from services.intake.bootstrap import create_app as create_intake_app
from tests.harness import Database
from tests.statements import counted_round_trips

# The commands this bench can drive: the path under a case, and the body (None: bench.serving's
# consultation).
COMMANDS: dict[str, tuple[str, dict | None]] = {
    "consultation": ("consultations", None),
    "visit": ("outreach-visits", {"staff_role": "outreach_worker", "occurred_at": "2016-05-01T10:00:00+09:00",
                                  "summary": "自宅を訪問。本人と玄関先で短く話し、次回の訪問を約束。"}),
}
TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|TABLE)\s+([\w.\"]+)", re.IGNORECASE)
SUBQUERY = re.compile(r",\s*\(SELECT (?:[^()]|\([^()]*\))*\)", re.IGNORECASE)  # a column's table: not the statement's


def kind_of(statement: str) -> str:
    """`VERB table` of a statement (the first table named), e.g. `SELECT subject_key_erasures`."""
    words = statement.lstrip().split(None, 1)
    verb = words[0].upper() if words else "?"
    table = TABLE.search(SUBQUERY.sub("", statement))
    return f"{verb} {table.group(1).strip(chr(34)).split('.')[-1]}" if table else verb


def whose() -> str:
    name = threading.current_thread().name
    if name.startswith("AnyIO worker"):
        return "request"
    if name.startswith("asyncio_"):
        return "background"
    return "loop" if "run" in name else name


class Trips:
    """Round trips counted by (thread kind, what) while `counting()`."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, what: str) -> None:
        with self._lock:
            self.counts[(whose(), what)] += 1

    @contextmanager
    def counting(self) -> Iterator[Trips]:
        # Statements sent together (no parameters: psycopg's simple query) are one round trip.
        def statement(sql: str) -> None:
            self.add(" + ".join(kind_of(part) for part in sql.split(";") if part.strip()))

        with counted_round_trips([Engine], lambda what: self.add("ping (pre-ping)" if what == "ping" else what),
                                 statement):
            yield self

    def table(self, commands: int) -> str:
        lines = []
        for who in ("request", "loop", "background"):
            rows = sorted(((what, n) for (w, what), n in self.counts.items() if w == who), key=lambda r: -r[1])
            total = sum(n for _, n in rows)
            lines.append(f"{who}: {total / commands:.2f} round trips a command")
            lines += [f"  {n / commands:6.2f}  {what}" for what, n in rows]
        return "\n".join(lines)


def measure(backend_name: str, n: int, tmp: Path, command: str = "consultation", dispatch: bool = False) -> str:
    os.environ["TSUNAGU_TEST_DB"] = backend_name  # read by tests.harness.Database
    (tmp / backend_name).mkdir(parents=True, exist_ok=True)
    db = Database(tmp / backend_name)
    nats = EmbeddedNats(tmp / backend_name / "nats")
    try:
        nats.start()
        intake = Served(create_intake_app(db.settings("intake", nats.url))).start()
        consumer = Served(create_dispatch_app(db.settings("dispatch", nats.url))).start() if dispatch else None
        try:
            centre, ids = open_cases(intake, 8)
            resource, body = COMMANDS[command]
            paths = [f"/v1/cases/{i}/{resource}" for i in ids]
            drive(lambda: intake.client("centre_staff", centre), paths, 40, 1, body)  # warm: keys and cases cached
            drain(intake)
            consumed(consumer)
            trips = Trips()
            with trips.counting():
                run = drive(lambda: intake.client("centre_staff", centre), paths, n, 1, body)
                drain(intake)
                consumed(consumer)
            return f"{backend_name}, {n} sequential {command} commands{' (and dispatch)' if dispatch else ''}, " \
                   f"statuses {dict(run.statuses)}, load {uptime()}\n{trips.table(n)}"
        finally:
            if consumer is not None:
                consumer.stop()
            intake.stop()
    finally:
        nats.stop()
        db.drop()


def consumed(server: Served | None, timeout: float = 600.0) -> None:
    """Wait until the consumers of `server` (None: none) are at the end of what intake published: the
    end as the server says it, asked every second (their end check), so wait that long first."""
    if server is None:
        return
    time.sleep(1.2)
    deadline = time.monotonic() + timeout
    while any(c.health.lag for c in server.app.state.runtime.consumers):
        if time.monotonic() > deadline:
            raise RuntimeError(f"consumers of {server.app.title} still behind after {timeout}s")
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--backends", default="postgresql")
    parser.add_argument("--command", choices=sorted(COMMANDS), default="consultation")
    parser.add_argument("--dispatch", action="store_true", help="dispatch consumes INTAKE in the same process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tsunagu-trips-") as tmp:
        os.environ.setdefault("TSUNAGU_VAR", str(Path(tmp) / "var"))
        for name in args.backends.split(","):
            print(measure(name, args.n, Path(tmp), args.command, args.dispatch))


if __name__ == "__main__":
    main()
