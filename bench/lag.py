"""End-to-end lag: a consultation accepted by intake → its row visible in reporting's table.

Run from the repository root:  .venv/bin/python -m bench.lag [--seconds 20] [--backends sqlite,postgresql]

Everything is real and runs in this process: an embedded nats-server, the intake and reporting
services under uvicorn on loopback ports (relay, log followers and consumers running as in
production). First the peak: `--clients` keep-alive clients POST consultations as fast as they can
over 50 cases. Then the load of issue 15's goal: consultations at half that rate, on a fixed
schedule (open loop: a slow answer does not delay the next request), for `--seconds`. A poller
reads `rp_consultations` every few milliseconds; the lag of a consultation is the time from its
201 to the poll that first sees its row. Prints p50/p99/max beside the goal (p99 ≤ 250 ms) and
writes bench/results/lag.json. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from bench.goals import goal_row
from bench.hops import Hops
from bench.serving import BODY, Served, open_cases
from libs.platform.tools.natsserver import EmbeddedNats
from services.intake.bootstrap import create_app as create_intake_app
from services.reporting.bootstrap import create_app as create_reporting_app
from services.reporting.projections.tables import consultations
from tests.harness import Database

RESULTS = Path(__file__).resolve().parent / "results" / "lag.json"
GOAL_P99_MS = 250.0
POLL_SECONDS = 0.002


class Watcher:
    """Polls the reporting table for the consultations accepted so far; notes when each shows."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.accepted: dict[str, float] = {}
        self.accepted_at: dict[str, float] = {}  # every 201's time, kept (for --hops)
        self.lags: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def accept(self, consultation_id: str, at: float) -> None:
        with self._lock:
            self.accepted[consultation_id] = at
            self.accepted_at[consultation_id] = at

    def waiting(self) -> int:
        with self._lock:
            return len(self.accepted)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                pending = list(self.accepted)[:500]
            if pending:
                with self.engine.connect() as conn:
                    seen = conn.execute(select(consultations.c.consultation_id).where(
                        consultations.c.consultation_id.in_(pending))).scalars().all()
                now = time.perf_counter()
                with self._lock:
                    for cid in seen:
                        self.lags[cid] = now - self.accepted.pop(cid)
            time.sleep(POLL_SECONDS)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def peak(intake: Served, token_client: httpx.Client, paths: list[str], clients: int, n: int) -> float:
    """Consultations/s with `clients` concurrent keep-alive clients, n in all."""
    headers = dict(token_client.headers)
    per = n // clients

    def drive(k: int) -> None:
        with httpx.Client(base_url=intake.url, timeout=30, headers=headers) as c:
            for i in range(per):
                r = c.post(paths[(k * per + i) % len(paths)], json=BODY)
                if r.status_code != 201:  # two clients on one case at once: retried as a client would
                    c.post(paths[(k * per + i + 1) % len(paths)], json=BODY)

    began = time.perf_counter()
    threads = [threading.Thread(target=drive, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * clients / (time.perf_counter() - began)


def at_rate(intake: Served, token_client: httpx.Client, paths: list[str], rate: float, seconds: float,
            watcher: Watcher) -> tuple[int, int]:
    """POST at `rate`/s on a fixed schedule for `seconds`; returns (sent, refused)."""
    headers = dict(token_client.headers)
    local = threading.local()
    refused = [0]

    def post(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=intake.url, timeout=30, headers=headers)
        r = local.client.post(paths[i % len(paths)], json=BODY)
        if r.status_code == 201:
            watcher.accept(r.json()["id"], time.perf_counter())
        else:
            refused[0] += 1

    total = int(rate * seconds)
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for i in range(total):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, i)
    return total, refused[0]


def run(seconds: float, clients: int, tmp: Path, hops: bool = False) -> dict:
    db = Database(tmp)
    nats = EmbeddedNats(tmp / "nats")
    servers: list[Served] = []
    try:
        nats.start()
        intake = Served(create_intake_app(db.settings("intake", nats.url))).start()
        servers.append(intake)
        reporting = Served(create_reporting_app(db.settings("reporting", nats.url))).start()
        servers.append(reporting)
        centre_id, ids = open_cases(intake, 50)
        staff = intake.client("centre_staff", centre_id)
        paths = [f"/v1/cases/{i}/consultations" for i in ids]
        peak(intake, staff, paths, clients, 4 * clients)  # warm-up
        rate = peak(intake, staff, paths, clients, 100 * clients)
        tracked = Hops().install(intake.app.state.runtime, reporting.app.state.runtime) if hops else None
        watcher = Watcher(reporting.app.state.runtime.engine).start()
        time.sleep(2)  # the peak's backlog drains first
        watcher.lags.clear()
        sent, refused = at_rate(intake, staff, paths, rate / 2, seconds, watcher)
        deadline = time.monotonic() + 60
        while watcher.waiting() and time.monotonic() < deadline:
            time.sleep(0.05)
        watcher.stop()
        staff.close()
        lags = sorted(1000 * v for v in watcher.lags.values())
        lost = watcher.waiting()
        per_hop = tracked.report(watcher.accepted_at, watcher.lags) if tracked is not None else None
    finally:
        for server in reversed(servers):
            server.stop()
        nats.stop()
        db.drop()
    p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else float("nan")
    return {"peak_per_s": round(rate, 1), "rate_per_s": round(rate / 2, 1), "seconds": seconds, "sent": sent,
            "refused": refused, "seen": len(lags), "not_seen_in_60s": lost,
            "p50_ms": round(statistics.median(lags), 1) if lags else None, "p99_ms": round(p99, 1),
            "max_ms": round(lags[-1], 1) if lags else None, "goal_p99_ms": GOAL_P99_MS,
            "load_avg": os.getloadavg(), **({"hops": per_hop} if per_hop is not None else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds at half the peak rate (default 20)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients measuring the peak (default 4)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL only (--backends postgresql)")
    parser.add_argument("--hops", action="store_true", help="also time each hop of a consultation (bench/hops.py)")
    args = parser.parse_args()
    measured, goals = [], []
    for backend in ["postgresql"] if args.postgres else args.backends.split(","):
        os.environ["TSUNAGU_TEST_DB"] = backend  # read by tests.harness.Database
        with tempfile.TemporaryDirectory(prefix="tsunagu-bench-") as tmp:
            os.environ.setdefault("TSUNAGU_VAR", str(Path(tmp) / "var"))
            r = run(args.seconds, args.clients, Path(tmp), args.hops)
        print(f"end-to-end lag (201 from intake → row in reporting), {backend}, load avg {r['load_avg'][0]:.1f}")
        print(f"peak {r['peak_per_s']}/s with {args.clients} clients; driven at {r['rate_per_s']}/s for "
              f"{r['seconds']} s: {r['sent']} sent, {r['refused']} refused, {r['seen']} seen, "
              f"{r['not_seen_in_60s']} not seen")
        print(f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'goal p99':>9}")
        print(f"{r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8} {'≤ 250':>9}")
        for hop, v in r.get("hops", {}).items():
            print(f"  {hop:>10}: " + ", ".join(f"{k} {x}" for k, x in v.items()))
        measured.append({"backend": backend, **r})
        goals.append(goal_row("end-to-end lag p99 at half the peak, ms", backend, r["p99_ms"], GOAL_P99_MS, "<=",
                              f"p50 {r['p50_ms']} ms, max {r['max_ms']} ms; peak {r['peak_per_s']}/s, driven at "
                              f"{r['rate_per_s']}/s; load {r['load_avg'][0]:.1f}"))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"benchmark": "lag", "measured": measured, "goals": goals,
                                       "at": datetime.now(UTC).isoformat(timespec="seconds"),
                                       "python": platform.python_version()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
