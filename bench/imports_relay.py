"""A portal moving history in, end to end (issue 15): imports of 500 consultations each, recorded
with the service's relay running beside them as in the service, until the relay has published and
recorded every event. An import leaves its messages (chain hash, canonical JSON, Ed25519
signature) to the relay (libs/platform/messaging/outbox.py), so its own rate (bench.imports) is not
the whole cost: this prints the import's rate, the end-to-end rate and the process's CPU time per
consultation (request and relay together, the measure load moves least).

Run from the repository root:  .venv/bin/python -m bench.imports_relay [--imports 6] [--backends sqlite]
It uses only what the service had before imports left their messages to the relay, so the same
command in an older tree gives the number to compare with.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path
from uuid import UUID, uuid4

from bench.imports import PER_CASE, SUMMARY, WHEN
from libs.platform.runtime import build_runtime
from libs.platform.tools.natsserver import EmbeddedNats
from libs.platform.web.auth import Principal
from services.intake.application.imports import ImportItem
from services.intake.bootstrap import SPEC as INTAKE
from tests.harness import Database

N = 500  # consultations per import (the most one may carry)


def run(imports: int, tmp: Path) -> dict[str, float]:
    db = Database(tmp)
    nats = EmbeddedNats(tmp / "nats")
    nats.start()
    runtime = build_runtime(INTAKE, db.settings("intake", nats.url))
    app, relay = runtime.application, runtime.relay
    try:
        officer = Principal(sub="bench", org="130001", roles=frozenset({"prefecture_officer"}))
        centre, _ = app.register_centre(officer, tenant="130001", name="bench", kind="adult", site="main",
                                        idempotency_key=None)
        staff = Principal(sub="bench", org=str(centre.id), roles=frozenset({"centre_staff"}))

        def items(cases: int) -> list[ImportItem]:
            ids: list[UUID] = [app.open_case(staff, centre_id=centre.id, client_kind="person", age_group="adult",
                                             residence_municipality=None, personal_details=None,
                                             idempotency_key=None)[0].id for _ in range(cases)]
            return [ImportItem(case_id=c, channel="phone", consulted_by="person", occurred_at=WHEN, summary=SUMMARY)
                    for c in ids for _ in range(PER_CASE)]

        batches = [items(N // PER_CASE) for _ in range(imports)]
        warm = items(2)

        async def measure() -> dict[str, float]:
            await relay.bus.connect()
            await relay.bus.ensure_stream(relay.spec)
            stop = asyncio.Event()
            task = asyncio.create_task(relay.run(stop))
            await asyncio.to_thread(app.import_consultations, staff, warm, str(uuid4()))
            end = relay.reader.max_position()
            while relay.health.position < end:  # the setup published: only the imports are timed
                await asyncio.sleep(0.002)
            gc.collect()
            cpu, began = time.process_time(), time.perf_counter()

            def imported() -> float:
                for batch in batches:
                    app.import_consultations(staff, batch, str(uuid4()))
                return time.perf_counter()

            imported_at = await asyncio.to_thread(imported)
            end = relay.reader.max_position()
            while relay.health.position < end and not task.done():
                await asyncio.sleep(0.002)
            published_at, cpu = time.perf_counter(), time.process_time() - cpu
            stop.set()
            await task
            if relay.position()[0] != relay.reader.max_position():
                raise RuntimeError("the relay did not publish the whole log")
            await relay.bus.close()
            rows = imports * N
            return {"import_rows_per_s": round(rows / (imported_at - began)),
                    "end_to_end_rows_per_s": round(rows / (published_at - began)),
                    "cpu_us_per_row": round(1e6 * cpu / rows)}

        return asyncio.run(measure())
    finally:
        app.close()
        runtime.engine.dispose()
        nats.stop()
        db.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--imports", type=int, default=6, help="imports of 500 consultations (default 6)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        os.environ["TSUNAGU_TEST_DB"] = backend  # read by tests.harness.Database
        with tempfile.TemporaryDirectory(prefix="tsunagu-bench-") as tmp:
            os.environ.setdefault("TSUNAGU_VAR", str(Path(tmp) / "var"))
            r = run(args.imports, Path(tmp))
        print(f"{backend}: import {r['import_rows_per_s']} rows/s, end to end {r['end_to_end_rows_per_s']} rows/s, "
              f"CPU {r['cpu_us_per_row']} µs per consultation (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
