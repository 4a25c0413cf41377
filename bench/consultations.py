"""The command path of issue 15, on SQLite and PostgreSQL in one run, as ratios against baselines
measured in the same run, each printed beside its goal (bench/goals.py prints the one table).

Run from the repository root:  .venv/bin/python -m bench.consultations [--n 400] [--backends sqlite,postgresql]

- HTTP: POST /v1/cases/{id}/consultations on the intake service (uvicorn, embedded nats-server,
  relay and followers running) against a plain FastAPI + SQLAlchemy Core endpoint inserting the
  same row, by 1, 8 and 32 concurrent keep-alive clients over 64 cases; p50/p99 latency; statuses
  other than 201 counted (a 409 without If-Match is a failure of the goal).
- In-process: record_consultation against a bare eventsourcing Application's load + save
  (bench/inprocess.py); the load of a case with 50/500/5,000 consultations.
- Memory: RSS of this process (the intake service's) after 1,000 commands and after --memory n.
- Split (PostgreSQL, `--split`, on by default): the same HTTP rows against a web-only intake replica
  with a worker replica in a second process running its loops (bench/split.py), separate rows.

Everything runs in this one process (clients, both servers, the service's loops), so it is bound
by the GIL: beside each HTTP ratio the process's CPU time per command is printed (ours counted until
the relay has published them, so the background work of a command is in it), which the machine's
load moves far less than requests per second.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from bench.goals import RESULTS_DIR, goal_row, print_goals, uptime
from bench.inprocess import case_load_curve, compare
from bench.serving import Served, create_baseline_app, drain, drive, open_cases
from bench.split import split_runs
from libs.platform.tools.natsserver import EmbeddedNats
from services.intake.bootstrap import create_app as create_intake_app
from tests.harness import Database, backend

CLIENTS = (1, 8, 32)
CASES = 64


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def http_runs(db: Database, nats_url: str, n: int, clients_counts: tuple[int, ...]) -> list[dict[str, Any]]:
    baseline = Served(create_baseline_app(db.settings("baseline", nats_url))).start()
    intake = Served(create_intake_app(db.settings("intake", nats_url))).start()
    rows = []
    try:
        base_paths = [f"/v1/cases/{uuid4()}/consultations" for _ in range(CASES)]
        centre, ids = open_cases(intake, CASES)
        paths = [f"/v1/cases/{i}/consultations" for i in ids]
        drive(baseline.client, base_paths, 20, 1)  # warm-up
        drive(lambda: intake.client("centre_staff", centre), paths, 20, 1)
        drain(intake)
        for clients in clients_counts:
            cpu = time.process_time()
            base = drive(baseline.client, base_paths, n, clients)
            cpu, base_cpu = time.process_time(), time.process_time() - cpu
            ours = drive(lambda: intake.client("centre_staff", centre), paths, n, clients)
            relay_s = drain(intake)
            ours_cpu = time.process_time() - cpu  # the relay's and followers' share of these commands too
            rows.append({"clients": clients, "baseline_per_s": round(base.per_s, 1),
                         "intake_per_s": round(ours.per_s, 1), "ratio": round(ours.per_s / base.per_s, 3),
                         "baseline_p50_ms": round(base.p50_ms, 1), "baseline_p99_ms": round(base.p99_ms, 1),
                         "p50_ms": round(ours.p50_ms, 1), "p99_ms": round(ours.p99_ms, 1),
                         "baseline_cpu_ms": round(base_cpu / n * 1000, 2), "cpu_ms": round(ours_cpu / n * 1000, 2),
                         "statuses": {str(k): v for k, v in sorted(ours.statuses.items())},
                         "relay_drain_s": round(relay_s, 2)})
    finally:
        intake.stop()
        baseline.stop()
    return rows


def memory_run(db: Database, nats_url: str, commands: int) -> dict[str, float]:
    """RSS after 1,000 commands and after `commands`, the intake service alone in this process."""
    intake = Served(create_intake_app(db.settings("intake", nats_url))).start()
    try:
        centre, ids = open_cases(intake, CASES)
        paths = [f"/v1/cases/{i}/consultations" for i in ids]
        make = lambda: intake.client("centre_staff", centre)  # noqa: E731 — a client per worker
        drive(make, paths, 1000, 8)
        drain(intake)
        gc.collect()
        first = rss_mib()
        drive(make, paths, commands - 1000, 8)
        drain(intake)
        gc.collect()
        last = rss_mib()
        return {"after_1000_mib": round(first, 1), "after_all_mib": round(last, 1),
                "ratio": round(last / first, 3), "commands": commands}
    finally:
        intake.stop()


def measure(backend_name: str, n: int, inproc_n: int, memory: int, tmp: Path, *, clients: tuple[int, ...] = CLIENTS,
            split: bool = True) -> dict[str, Any]:
    os.environ["TSUNAGU_TEST_DB"] = backend_name  # read by tests.harness.Database
    db = Database(tmp / backend_name)
    (tmp / backend_name).mkdir(parents=True, exist_ok=True)
    nats = EmbeddedNats(tmp / backend_name / "nats")
    try:
        nats.start()
        out: dict[str, Any] = {"backend": backend(), "http": http_runs(db, nats.url, n, clients)}
        if split and backend() == "postgresql":  # a web-only replica needs PostgreSQL (Settings refuses)
            # A nats-server of its own: the rows above filled INTAKE with events the split's fresh log
            # does not hold, and its relay rightly refuses such a stream ("restored from an older backup?").
            split_nats = EmbeddedNats(tmp / backend_name / "nats-split")
            split_nats.start()
            try:
                out["http_split"] = split_runs(db, split_nats.url, n, clients, tmp / backend_name)
            finally:
                split_nats.stop()
        if inproc_n:
            settings = db.settings("inproc", "nats://127.0.0.1:1")
            rates = compare(settings, inproc_n, CASES)
            out["inprocess"] = {k: round(v, 1) for k, v in rates.items()}
            out["inprocess"]["ratio"] = round(rates["ours"] / rates["bare"], 3)
            curve = case_load_curve(db.settings("growth", "nats://127.0.0.1:1"))
            out["case_load_ms"] = {str(k): round(v * 1000, 2) for k, v in curve.items()}
            out["case_load_ratio"] = round(curve[max(curve)] / curve[min(curve)], 2)
        if memory:
            out["memory"] = memory_run(db, nats.url, memory)
        return out
    finally:
        nats.stop()
        db.drop()


def goals_of(m: dict[str, Any]) -> list[dict[str, Any]]:
    b = m["backend"]
    rows = []
    for key, shape in (("http", ""), ("http_split", ", web-only + worker process")):
        for r in m.get(key, []):
            target = {1: 0.5, 8: 1.0}.get(r["clients"])
            conflicts = sum(v for k, v in r["statuses"].items() if k != "201")
            cpu = f"CPU {r['cpu_ms']} ms a command" + (
                f" (web {r['web_cpu_ms']} + worker {r['worker_cpu_ms']})" if "web_cpu_ms" in r else "")
            rows.append(goal_row(f"HTTP command, {r['clients']} client{'s' if r['clients'] > 1 else ''}{shape} "
                                 "(÷ plain FastAPI+SQLAlchemy)", b, r["ratio"], target, ">=",
                                 f"p50 {r['p50_ms']} / p99 {r['p99_ms']} ms (plain {r['baseline_p50_ms']} / "
                                 f"{r['baseline_p99_ms']}); {cpu} (plain {r['baseline_cpu_ms']}); "
                                 f"non-201: {conflicts}"))
    if "inprocess" not in m:
        return rows
    rows.append(goal_row("record_consultation ÷ bare Application load+save", b, m["inprocess"]["ratio"], 0.5, ">=",
                         f"{m['inprocess']['ours']}/s vs {m['inprocess']['bare']}/s (the bare one with the "
                         f"library's aggregate cache; without: {m['inprocess'].get('bare_uncached', '?')}/s)"))
    curve = m["case_load_ms"]
    rows.append(goal_row(f"load a case: {max(curve, key=int)} ÷ {min(curve, key=int)} consultations", b,
                         m["case_load_ratio"], 2.0, "<=", "ms: " + ", ".join(f"{k}: {v}" for k, v in curve.items())))
    if "memory" in m:
        mem = m["memory"]
        rows.append(goal_row(f"RSS after {mem['commands']} ÷ after 1,000 commands", b, mem["ratio"], 1.2, "<=",
                             f"{mem['after_1000_mib']} → {mem['after_all_mib']} MiB"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=400, help="HTTP requests per client count (default 400)")
    parser.add_argument("--inprocess", type=int, default=1000,
                        help="in-process commands (default 1000; 0: skip it and the case-load curve)")
    parser.add_argument("--memory", type=int, default=10_000,
                        help="commands of the memory run (default 10,000; the goal names 100,000; 0: skip)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)), help="client counts (default 1,8,32)")
    parser.add_argument("--split", action=argparse.BooleanOptionalAction, default=True,
                        help="also a web-only replica with a worker process beside it (PostgreSQL only)")
    args = parser.parse_args()
    measured, goals = [], []
    with tempfile.TemporaryDirectory(prefix="tsunagu-bench-") as tmp:
        os.environ.setdefault("TSUNAGU_VAR", str(Path(tmp) / "var"))
        for name in args.backends.split(","):
            m = measure(name, args.n, args.inprocess, args.memory, Path(tmp),
                        clients=tuple(int(c) for c in args.clients.split(",")), split=args.split)
            measured.append(m)
            goals += goals_of(m)
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)  # after each backend: a long run keeps what it measured
            (RESULTS_DIR / "consultations.json").write_text(json.dumps({
                "benchmark": "consultations", "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "uptime": uptime(), "python": platform.python_version(), "args": vars(args),
                "measured": measured, "goals": goals}, indent=2, ensure_ascii=False) + "\n")
    print_goals(goals, title=f"command path (n={args.n} per client count, {CASES} cases)")


if __name__ == "__main__":
    main()
