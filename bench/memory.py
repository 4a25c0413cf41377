"""Memory of each service under commands (issue 15: RSS after 100,000 commands within 1.2× of
after 1,000), in-process so that 100,000 take minutes, not an hour over HTTP.

Each service runs as it does in production, in this process (uvicorn thread: relay, log followers
and consumers on a real nats-server), one after the other in a fresh database. The commands call
its application directly, like a portal migrating history (intake: a new case every `--per-case`
consultations, each case a data subject with its own key, each consultation with a sealed summary;
registry: trainees with sealed details; dispatch: requests with the person's sealed details);
reporting consumes the events intake publishes for such commands from the INTAKE stream. RSS after
1,000 commands and at five steps after, the background loops drained each time, with SQLite's own
memory, Python's allocated blocks and the objects that grew by type beside it; `--trim` adds the
RSS after malloc_trim, `--trace FRAMES` the allocation sites that grew most in the last step
(tracemalloc snapshots diffed; it slows the run down a lot).

The allocator is the deployed one (MALLOC_ARENA_MAX=2 and the malloc-trim job, libs/platform/memory.py)
unless `--allocator glibc` asks for glibc's defaults (what RSS did before); `--malloc-trim` sets the job's period.

Run from the repository root:  .venv/bin/python -m bench.memory [--services intake] [--commands 100000]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.consultations import rss_mib
from bench.goals import RESULTS_DIR, goal_row, uptime
from bench.memory_commands import Commands, DispatchCommands, IntakeCommands, IntakeEvents, RegistryCommands
from bench.serving import Served, drain
from libs.platform.memory import ARENA_ENV, trim_heap
from libs.platform.settings import Settings
from libs.platform.tools.natsserver import EmbeddedNats
from services.intake.bootstrap import create_app as create_intake_app
from tests.harness import Database, provision_streams


def settle(served: Served, events: IntakeEvents | None = None) -> float:
    if events is None:
        drain(served)
    else:  # reporting: until its INTAKE consumer has applied every event published so far
        deadline = time.monotonic() + 900
        consumer = next(c for c in served.app.state.runtime.consumers if c.health.stream == "INTAKE")
        while consumer.health.position < events.sequence:
            if time.monotonic() > deadline:
                raise RuntimeError(f"reporting at {consumer.health.position} of {events.sequence}")
            time.sleep(0.05)
    gc.collect()
    return rss_mib()


def trimmed_mib() -> float:
    """RSS after glibc returns the free memory it still holds (malloc_trim): what RSS would be if
    the allocator kept no freed pages; the difference to RSS is freed memory, not live objects."""
    if not TRIM:
        return float("nan")
    started = time.perf_counter()
    trim_heap()
    TRIM_MS.append((time.perf_counter() - started) * 1000)  # the cost of one call of the platform job
    return rss_mib()


def sqlite_mib() -> float:
    """Memory SQLite holds in this process (page caches of every connection, prepared statements),
    from the library the sqlite3 module uses: RSS that no Python allocation shows."""
    lib = ctypes.CDLL(sqlite3_library())
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return lib.sqlite3_memory_used() / 2**20


def sqlite3_library() -> str:
    import _sqlite3

    with open(f"/proc/{os.getpid()}/maps") as maps:
        for line in maps:
            if "libsqlite3" in line:
                return line.split()[-1]
    return _sqlite3.__file__  # statically linked


def cache_entries() -> str:
    """Entries held by the service's bounded caches (every Lru, the subject keys, the aggregate
    caches), summed by kind: what fills up to its bound and then stays flat."""
    from libs.platform.lru import Lru
    from libs.platform.privacy.sealing import Sealer
    from libs.platform.store.cache import CachingRepository

    held: Counter[str] = Counter()
    for o in gc.get_objects():
        if isinstance(o, Lru):
            held["lru"] += len(o)
        elif isinstance(o, Sealer):
            held["keys"] += len(o._keys)
        elif isinstance(o, CachingRepository) and o.cache is not None:
            held["aggregates"] += len(o.cache.cache)
    return ", ".join(f"{k} {n:,}" for k, n in sorted(held.items()))


def heap_detail() -> str:
    """Anonymous RSS (the heap, not the libraries' pages) and what pymalloc holds of it: arenas
    that grow while Python's block count stays flat are fragmentation; anonymous memory that grows
    beyond pymalloc, SQLite and the objects is C allocations (or objects over 512 bytes)."""
    with open("/proc/self/status") as status:
        anon = next(int(line.split()[1]) for line in status if line.startswith("RssAnon:")) / 1024
    with tempfile.TemporaryFile("w+") as out:  # _debugmallocstats writes to the C stderr
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        stats: dict[str, str] = {}
        for line in out:  # the first "Total" is pymalloc's arenas (free lists' totals follow)
            key, sep, value = line.partition("=")
            if sep:
                stats.setdefault(key.strip(), value.strip())
    arenas = int(stats.get("Total", "0").replace(",", "")) / 2**20
    used = int(stats.get("# bytes in allocated blocks", "0").replace(",", "")) / 2**20
    return f"anon {anon:.1f}, pymalloc {arenas:.1f} in arenas ({used:.1f} used)"


def object_counts() -> Counter[str]:
    """Live objects tracked by the collector, by type name (what a leak of small objects shows as)."""
    return Counter(type(o).__qualname__ for o in gc.get_objects())


OVERRIDES: dict[str, Any] = {}  # settings of the service measured (--malloc-trim)
TRIM_MS: list[float] = []
STEPS = 5  # --steps: measurements after the first 1,000 commands
TRIM = False  # --trim: also print RSS after malloc_trim (then the RSS of later steps starts lower)
SERVICES = ("intake", "registry", "dispatch", "reporting")


def serve(service: str, db: Database, nats_url: str, per_case: int) -> tuple[Served, Commands]:
    """The service under uvicorn in this process, and what drives it."""
    from services.dispatch.bootstrap import create_app as create_dispatch_app
    from services.registry.bootstrap import create_app as create_registry_app
    from services.reporting.bootstrap import create_app as create_reporting_app

    if service == "reporting":
        provision_streams(nats_url, "intake")
        served = Served(create_reporting_app(db.settings(service, nats_url, **OVERRIDES))).start()
        return served, IntakeEvents(nats_url, per_case, db.signing_keys["intake"])
    factory = {"intake": create_intake_app, "registry": create_registry_app, "dispatch": create_dispatch_app}
    served = Served(factory[service](db.settings(service, nats_url, **OVERRIDES))).start()
    app = served.app.state.runtime.application
    drivers = {"intake": IntakeCommands, "registry": RegistryCommands, "dispatch": DispatchCommands}
    return served, drivers[service](app, per_case)


def measure(service: str, db: Database, nats_url: str, commands: int, per_case: int,
            trace: int) -> dict[str, Any]:
    served, drive = serve(service, db, nats_url, per_case)
    events = drive if isinstance(drive, IntakeEvents) else None
    try:
        drive.run(1000)
        first = settle(served, events)
        print(f"  1,000 commands: RSS {first:.1f} MiB (trimmed {trimmed_mib():.1f}, SQLite {sqlite_mib():.1f}, "
              "Python blocks "
              f"{sys.getallocatedblocks():,}; {heap_detail()})", flush=True)
        if trace:
            tracemalloc.start(trace)
        counts = object_counts()
        snapshots = [(tracemalloc.take_snapshot(), counts)] if trace else []
        started = time.perf_counter()
        rss = [(1000, round(first, 1))]
        step = max(1000, (commands - 1000) // STEPS)
        while drive.done < commands:
            drive.run(min(step, commands - drive.done))
            rss.append((drive.done, round(settle(served, events), 1)))
            if trace:
                snapshots = [*snapshots[-1:], (tracemalloc.take_snapshot(), object_counts())]
                print(f"  traced: {tracemalloc.get_traced_memory()[0] / 2**20:.1f} MiB", flush=True)
            now = object_counts()
            print(f"  {drive.done:,} commands: RSS {rss[-1][1]} MiB (trimmed {trimmed_mib():.1f}, "
                  f"SQLite {sqlite_mib():.1f}, Python blocks "
                  f"{sys.getallocatedblocks():,}; {heap_detail()}; cached: {cache_entries()}); objects grown: "
                  + ", ".join(f"{k} {n:+}" for k, n in (now - counts).most_common(6)), flush=True)
            counts = now
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
    parser.add_argument("--services", default=",".join(SERVICES), help=f"some of {', '.join(SERVICES)}")
    parser.add_argument("--commands", type=int, default=100_000)
    parser.add_argument("--per-case", type=int, default=10,
                        help="commands per aggregate (intake: consultations per case; registry: trainees per course)")
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--trace", type=int, default=0, metavar="FRAMES",
                        help="diff tracemalloc snapshots of the last step, tracebacks of FRAMES frames (slow)")
    parser.add_argument("--trim", action="store_true", help="also print RSS after malloc_trim at each step")
    parser.add_argument("--malloc-trim", type=float, default=None, metavar="SECONDS",
                        help="the service's malloc-trim job period (0: off; default: the service's default)")
    parser.add_argument("--steps", type=int, default=5, help="measurements after the first 1,000 commands")
    parser.add_argument("--allocator", choices=("deployed", "glibc"), default="deployed",
                        help="deployed: MALLOC_ARENA_MAX and the malloc-trim job as deploy/ and the launcher set "
                             "them; glibc: neither (glibc's defaults)")
    parser.add_argument("--cache-size", type=int, default=None, metavar="N",
                        help="bound the subject-key and tenant caches at N entries instead of the default, 2,000 "
                             "(does the live memory that grows stop growing once they are full?)")
    args = parser.parse_args()
    # glibc reads MALLOC_ARENA_MAX when a process starts: measure with it as deployed, or without.
    arena = ARENA_ENV if args.allocator == "deployed" else {}
    if os.environ.get("MALLOC_ARENA_MAX") != arena.get("MALLOC_ARENA_MAX"):
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | arena
        os.execve(sys.executable, [sys.executable, "-m", "bench.memory", *sys.argv[1:]], env)
    global TRIM, STEPS
    TRIM, STEPS = args.trim, args.steps
    if args.allocator == "glibc":
        OVERRIDES["malloc_trim_seconds"] = 0.0
    if args.malloc_trim is not None:
        OVERRIDES["malloc_trim_seconds"] = args.malloc_trim
    # What the allocator was told: MALLOC_ARENA_MAX is read by glibc when this process started.
    variant = (f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', '-')}, malloc-trim every "
               f"{OVERRIDES.get('malloc_trim_seconds', Settings.malloc_trim_seconds)} s")
    print(f"allocator: {variant}", flush=True)
    if args.cache_size is not None:
        from libs.platform.privacy import sealing
        from libs.platform.store import log

        sealing.KEY_CACHE_SIZE = log.TENANT_CACHE_SIZE = args.cache_size
        print(f"caches bound at {args.cache_size:,} entries", flush=True)
    os.environ["TSUNAGU_TEST_DB"] = args.backend
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    for service in args.services.split(","):
        with tempfile.TemporaryDirectory(prefix="tsunagu-memory-") as tmp:
            nats = EmbeddedNats(Path(tmp) / "nats")
            nats.start()
            db = Database(Path(tmp))
            try:
                result = measure(service, db, nats.url, args.commands, args.per_case, args.trace)
            finally:
                db.drop()
                nats.stop()
        what = "events consumed" if service == "reporting" else "in-process commands"
        (RESULTS_DIR / f"memory-{service}.json").write_text(json.dumps({
            "benchmark": "memory", "service": service, "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "uptime": uptime(), "backend": args.backend, "allocator": variant, **result, "goals": [goal_row(
                f"memory: {service} RSS after {args.commands:,} ÷ after 1,000 {what}", args.backend,
                result["ratio"], 1.2, "<=", f"MiB: {result['rss_mib']}; {result['commands_per_s']} commands/s")]},
            indent=2, ensure_ascii=False) + "\n")
        print(f"{service} RSS after 1,000 and {args.commands:,} {what} ({args.backend}, {uptime()}): "
              f"{result['rss_mib'][0][1]} → {result['rss_mib'][-1][1]} MiB, ratio {result['ratio']} (goal ≤ 1.2), "
              f"{result['commands_per_s']} commands/s", flush=True)
        if TRIM_MS:
            print(f"  malloc_trim: {min(TRIM_MS):.1f}–{max(TRIM_MS):.1f} ms a call ({len(TRIM_MS)} calls)")
            TRIM_MS.clear()
        for g in result["grown"]:
            print(f"  +{g['kib']} KiB in {g['count']:+} blocks at {' < '.join(reversed(g['where']))}")
        for name, n in result["objects"]:
            print(f"  {n:+} {name} objects")


if __name__ == "__main__":
    main()
