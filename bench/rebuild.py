"""Rebuild of the reporting projections from a stream: catch-up events/s against merely reading
the same events from NATS, both in this run.

Run from the repository root:  .venv/bin/python -m bench.rebuild [--n 100000] [--postgres]

An embedded nats-server holds an INTAKE stream of N CloudEvents (a centre, cases and
consultations, as the relay publishes them). Baseline: a durable pull consumer that fetches and
acks every message and does nothing else. Measured: the reporting projection catching up from
position 0 through the consumer runner (decode, project, record position, ack). Nothing is
asserted; the ratio is printed and written to bench/results/rebuild.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from bench.goals import goal_row
from libs.domain.contracts import event_id
from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import Envelope, nats_subject
from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.streams import STREAMS
from libs.platform.store.db import make_engine
from libs.platform.tools.natsserver import EmbeddedNats
from services.reporting.bootstrap import SPEC as REPORTING
from services.reporting.projections import ReportingProjection
from tests.harness import Database

RESULTS = Path(__file__).resolve().parent / "results" / "rebuild.json"
SPEC = STREAMS["intake"]
TENANT = "130001"


def envelopes(n: int, cases: int = 500) -> list[Envelope]:
    """A centre, `cases` cases and consultations up to n events, as the relay would publish them."""
    centre, start = uuid4(), datetime(2016, 4, 1, tzinfo=UTC)
    out = [Envelope(id=event_id(centre, 1), source="/tsunagu/intake", type="jp.tsunagu.intake.CentreRegistered.v1",
                    subject=str(centre), time=start.isoformat(), tenant=TENANT, sequence=1, aggregate="centre",
                    data={"tenant": TENANT, "name": "bench", "kind": "adult", "site": "main"})]
    case_ids = [uuid4() for _ in range(cases)]
    for c in case_ids:
        out.append(Envelope(id=event_id(c, 1), source="/tsunagu/intake", type="jp.tsunagu.intake.CaseOpened.v2",
                            subject=str(c), time=start.isoformat(), tenant=TENANT, sequence=len(out) + 1,
                            aggregate="case", data={"tenant": TENANT, "centre_id": str(centre), "client_kind": "person",
                                                    "age_group": "adult", "residence_municipality": None,
                                                    "personal_details": None}))
    version = dict.fromkeys(case_ids, 1)
    while len(out) < n:
        c = case_ids[len(out) % cases]
        version[c] += 1
        at = start + timedelta(minutes=len(out))
        out.append(Envelope(
            id=event_id(c, version[c]), source="/tsunagu/intake", type="jp.tsunagu.intake.ConsultationRecorded.v1",
            subject=str(c), time=at.isoformat(), tenant=TENANT, sequence=len(out) + 1, aggregate="case",
            data={"consultation_id": str(uuid4()), "centre_id": str(centre), "channel": "phone",
                  "consulted_by": "person", "occurred_at": at.isoformat(), "summary": None, "idempotency_key": None}))
    return out


async def publish(url: str, items: list[Envelope]) -> float:
    bus = Bus(url, "bench")
    await bus.connect()
    await bus.ensure_stream(SPEC)
    js, began = bus.js, time.perf_counter()
    futures = [await js.publish_async(nats_subject("intake", e), e.to_json(), headers={"Nats-Msg-Id": e.id})
               for e in items]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - began
    await bus.close()
    return elapsed


async def read_only(url: str, n: int) -> float:
    nc = await nats.connect(url)
    sub = await nc.jetstream().pull_subscribe("intake.>", durable="bench-read", stream=SPEC.name)
    got, began = 0, time.perf_counter()
    while got < n:
        try:
            msgs = await sub.fetch(500, timeout=2)
        except (TimeoutError, NatsTimeout):
            continue
        for m in msgs:
            await m.ack()
        got += len(msgs)
    elapsed = time.perf_counter() - began
    await nc.close()
    return elapsed


async def crash_holding_unacked(url: str, durable: str, held: int = 200) -> None:
    """What a consumer process killed mid-batch leaves on the server: a durable with explicit
    acks and `held` messages delivered, never acknowledged (the fault of issue 13)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(SPEC.name, durable)  # the clean run's
    sub = await js.pull_subscribe(f"{SPEC.service}.>", durable=durable, stream=SPEC.name, config=ConsumerConfig(
        ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=30, max_ack_pending=10_000))
    got = 0
    while got < held:
        got += len(await sub.fetch(held - got, timeout=5))
    await nc.close()


async def catch_up(url: str, engine, n: int, *, after_crash: bool = False) -> float:
    projection = ReportingProjection(engine)
    bus = Bus(url, "bench-reporting")
    await bus.connect()
    runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection,  # reporting's batch size
                            batch_size=REPORTING.consumer_batch_size)
    if after_crash:
        await crash_holding_unacked(url, runner.durable)
    began = time.perf_counter()
    while projection.position(SPEC.name) < n:
        await runner.step(timeout=2)
    elapsed = time.perf_counter() - began
    await bus.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    if args.postgres:
        os.environ["TSUNAGU_TEST_DB"] = "postgresql"
    with tempfile.TemporaryDirectory(prefix="tsunagu-bench-") as tmp:
        server = EmbeddedNats(Path(tmp) / "nats")
        server.start()
        database, again = Database(Path(tmp) / "clean"), Database(Path(tmp) / "crashed")
        (Path(tmp) / "clean").mkdir()
        (Path(tmp) / "crashed").mkdir()
        engine = make_engine(database.settings("reporting", server.url))
        engine_again = make_engine(again.settings("reporting", server.url))
        try:
            items = envelopes(args.n)
            published = asyncio.run(publish(server.url, items))
            read = asyncio.run(read_only(server.url, args.n))
            rebuilt = asyncio.run(catch_up(server.url, engine, args.n))
            recovered = asyncio.run(catch_up(server.url, engine_again, args.n, after_crash=True))
        finally:
            engine.dispose()
            engine_again.dispose()
            database.drop()
            again.drop()
            server.stop()
    rows = [("publish (relay-style publish_async)", published), ("read from NATS: fetch + ack (baseline)", read),
            ("reporting catch-up: decode + project + track", rebuilt),
            ("the same after a crash holding 200 unacked", recovered)]
    backend = "postgresql" if args.postgres else "sqlite"
    print(f"rebuild of {args.n} events, {backend}")
    print(f"{'name':<52}{'seconds':>9}{'events/s':>11}{'ratio':>8}")
    for name, seconds in rows:
        print(f"{name:<52}{seconds:>9.2f}{args.n / seconds:>11.0f}{read / seconds:>8.3f}")
    RESULTS.parent.mkdir(exist_ok=True)
    goals = [goal_row("reporting rebuild ÷ raw read of the stream", backend, round(read / rebuilt, 3), 0.5, ">=",
                      f"n={args.n}; {args.n / rebuilt:.0f} vs {args.n / read:.0f} events/s")]
    RESULTS.with_name(f"rebuild-{backend}.json").write_text(json.dumps({"n": args.n, "backend": backend, "rows": [
        {"name": name, "seconds": s, "events_per_s": args.n / s, "ratio_vs_read": read / s} for name, s in rows],
        "goals": goals}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
