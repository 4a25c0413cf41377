"""Memory of the intake service under commands (issue 15: RSS after 100,000 commands within 1.2×
of after 1,000), in-process so that 100,000 take minutes, not an hour over HTTP.

The service runs as it does in production, in this process (uvicorn thread: relay, log followers
and consumers on a real nats-server); the commands call its application directly, like a portal
migrating history: a new case every `--per-case` consultations (each case a data subject of its
own, with its own key), each consultation with a summary (sealed). RSS after 1,000 commands and
after all of them, the background loops drained each time; with `--trace`, the allocation sites
that grew most between the two (tracemalloc snapshots diffed; it slows the run down a lot).

Run from the repository root:  .venv/bin/python -m bench.memory [--commands 100000] [--trace]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from collections import Counter
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from bench.consultations import rss_mib
from bench.goals import RESULTS_DIR, goal_row, uptime
from bench.serving import Served, drain
from libs.platform.tools.natsserver import EmbeddedNats
from libs.platform.web.auth import Principal
from services.intake.application import IntakeApplication
from services.intake.bootstrap import create_app as create_intake_app
from tests.harness import Database

TENANT = "130001"
WHEN = datetime(2016, 5, 1, 10, tzinfo=UTC)
SUMMARY = "電話相談。本人は外出が難しく、家族が今後の支援について相談。"


class Commands:
    """In-process commands of one centre: a new case every `per_case` consultations."""

    def __init__(self, app: IntakeApplication, per_case: int) -> None:
        self.app, self.per_case, self.done = app, per_case, 0
        officer = Principal(sub="bench", org=TENANT, roles=frozenset({"prefecture_officer"}))
        centre, _ = app.register_centre(officer, tenant=TENANT, name="bench centre", kind="adult", site="main",
                                        idempotency_key=None)
        self.staff = Principal(sub="bench", org=str(centre.id), roles=frozenset({"centre_staff"}))
        self.centre_id: UUID = centre.id
        self.case_id: UUID | None = None

    def run(self, n: int) -> None:
        for _ in range(n):
            if self.done % self.per_case == 0:
                case, _ = self.app.open_case(self.staff, centre_id=self.centre_id, client_kind="person",
                                             age_group="adult", residence_municipality=None, personal_details=None,
                                             idempotency_key=None)
                self.case_id = case.id
            else:
                assert self.case_id is not None
                self.app.record_consultation(self.staff, self.case_id, expected_version=None, channel="phone",
                                             consulted_by="person", occurred_at=WHEN, summary=SUMMARY,
                                             idempotency_key=None)
            self.done += 1


def settle(served: Served) -> float:
    drain(served)
    gc.collect()
    return rss_mib()


def object_counts() -> Counter[str]:
    """Live objects tracked by the collector, by type name (what a leak of small objects shows as)."""
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def measure(db: Database, nats_url: str, commands: int, per_case: int, trace: bool) -> dict[str, Any]:
    served = Served(create_intake_app(db.settings("intake", nats_url))).start()
    try:
        app: IntakeApplication = served.app.state.runtime.application
        drive = Commands(app, per_case)
        drive.run(1000)
        first = settle(served)
        if trace:
            tracemalloc.start(8)
        snapshots = [(tracemalloc.take_snapshot(), object_counts())] if trace else []
        started = time.perf_counter()
        rss = [(1000, round(first, 1))]
        step = max(1000, (commands - 1000) // 5)
        while drive.done < commands:
            drive.run(min(step, commands - drive.done))
            rss.append((drive.done, round(settle(served), 1)))
            if trace:
                snapshots = [*snapshots[-1:], (tracemalloc.take_snapshot(), object_counts())]
                print(f"  traced: {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MiB", flush=True)
            print(f"  {drive.done:,} commands: RSS {rss[-1][1]} MiB", flush=True)
        seconds = time.perf_counter() - started
        grown: list[dict[str, Any]] = []
        objects: list[tuple[str, int]] = []
        if trace:  # the growth of the last step only: what still grows once the caches are full
            (before, counted), (after, counted_after) = snapshots
            tracemalloc.stop()
            for stat in after.compare_to(before, "traceback")[:15]:
                grown.append({"kib": round(stat.size_diff / 1024, 1), "count": stat.count_diff,
                              "where": [f"{f.filename}:{f.lineno}" for f in stat.traceback][-6:]})
            objects = [(k, n) for k, n in (counted_after - counted).most_common(15)]
        return {"commands": commands, "per_case": per_case, "rss_mib": rss, "ratio": round(rss[-1][1] / first, 3),
                "commands_per_s": round((commands - 1000) / seconds, 1), "grown": grown, "objects": objects}
    finally:
        served.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=100_000)
    parser.add_argument("--per-case", type=int, default=10, help="consultations per case (a new case after)")
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--trace", action="store_true", help="diff tracemalloc snapshots (slow)")
    args = parser.parse_args()
    os.environ["TSUNAGU_TEST_DB"] = args.backend
    with tempfile.TemporaryDirectory(prefix="tsunagu-memory-") as tmp:
        nats = EmbeddedNats(Path(tmp) / "nats")
        nats.start()
        db = Database(Path(tmp))
        try:
            result = measure(db, nats.url, args.commands, args.per_case, args.trace)
        finally:
            db.drop()
            nats.stop()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "memory.json").write_text(json.dumps({
        "benchmark": "memory", "at": datetime.now(UTC).isoformat(timespec="seconds"), "uptime": uptime(),
        "backend": args.backend, **result, "goals": [goal_row(
            f"memory: intake RSS after {args.commands:,} ÷ after 1,000 in-process commands", args.backend,
            result["ratio"], 1.2, "<=", f"MiB: {result['rss_mib']}; {result['commands_per_s']} commands/s")]},
        indent=2, ensure_ascii=False) + "\n")
    print(f"intake RSS after 1,000 and {args.commands:,} in-process commands ({args.backend}, {uptime()}): "
          f"{result['rss_mib'][0][1]} → {result['rss_mib'][-1][1]} MiB, ratio {result['ratio']} (goal ≤ 1.2), "
          f"{result['commands_per_s']} commands/s")
    for g in result["grown"]:
        print(f"  +{g['kib']} KiB in {g['count']:+} blocks at {' < '.join(reversed(g['where']))}")
    for name, n in result["objects"]:
        print(f"  {n:+} {name} objects")


if __name__ == "__main__":
    main()
