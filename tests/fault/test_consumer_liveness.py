"""Consumers always make progress: after a crash holding unacknowledged messages, with a large
backlog, when a message is lost on the way, when the server loses the consumer or restarts
(issue 13, point 1: a consumer used to stall for good, NAK-ing the message it waited for)."""

from __future__ import annotations

import asyncio
import threading
import time

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import BigInteger, Column, MetaData, Table, create_engine, func, select

from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.streams import STREAMS
from libs.platform.readmodels.projection import SqlProjection
from tests.harness import backend

# These tests keep their projection in a SQLite file of their own: the PostgreSQL pass would only
# run them again.
pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() == "postgresql", reason="database-independent; runs in the SQLite pass")]
SPEC = STREAMS["intake"]
DURABLE = "liveness-intake"


class Counting(SqlProjection):
    """Records each applied sequence; a sequence applied twice breaks the primary key."""

    name = "liveness"

    def __init__(self, engine) -> None:
        metadata = MetaData()
        self.rows = Table("applied", metadata, Column("seq", BigInteger, primary_key=True))
        super().__init__(engine, metadata)

    def project(self, conn, envelope: Envelope) -> None:
        conn.execute(self.rows.insert().values(seq=envelope.sequence))

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(self.rows)).scalar_one()

    def sequences(self) -> list[int]:
        with self.engine.connect() as conn:
            return [r.seq for r in conn.execute(select(self.rows.c.seq).order_by(self.rows.c.seq))]


def _envelope(seq: int) -> bytes:
    return Envelope(id=f"id-{seq}", source="/tsunagu/intake", type="jp.tsunagu.intake.Probe.v1",
                    subject="s", time="2016-04-01T00:00:00+09:00", tenant="130001", sequence=seq,
                    aggregate="probe", data={}).to_json()


async def _publish(url: str, first: int, last: int) -> None:
    await (await _bus(url)).close()  # the stream exists
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30)
    for start in range(first, last + 1, 2000):
        for seq in range(start, min(start + 2000, last + 1)):
            await js.publish_async("intake.130001.probe.Probe", _envelope(seq))
        await js.publish_async_completed()
    await nc.close()


async def _run_until(runner: ConsumerRunner, done, timeout: float) -> float:
    """Run the runner's own loop until done() holds; returns the seconds it took."""
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    started = time.monotonic()
    try:
        while not await asyncio.to_thread(done):
            assert time.monotonic() - started < timeout, \
                f"no progress: {runner.health.report(stall_seconds=60, max_failures=10)}"
            assert not task.done(), task
            await asyncio.sleep(0.1)
        return time.monotonic() - started
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def _bus(url: str) -> Bus:
    bus = Bus(url, "liveness")
    await bus.connect()
    await bus.ensure_stream(SPEC)
    return bus


async def test_a_consumer_killed_holding_200_unacknowledged_messages_catches_up_on_a_backlog_by_itself(
        nats_server, tmp_path):
    """The measured fault: a consumer fetched 200 messages and died without acking them, with a
    3,000-message backlog behind (and 1,000 published after). Before: 211 of 4,000 in 110 s."""
    await _publish(nats_server.url, 1, 3000)
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    old = await js.pull_subscribe("intake.>", durable=DURABLE, stream="INTAKE", config=ConsumerConfig(
        ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=30, max_ack_pending=10_000))
    assert len(await old.fetch(200, timeout=5)) == 200  # and never acked: the process dies
    await nc.close()
    await _publish(nats_server.url, 3001, 4000)

    projection = Counting(create_engine(f"sqlite:///{tmp_path / 'p.db'}"))
    bus = await _bus(nats_server.url)
    runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection)
    await _run_until(runner, lambda: projection.count() == 4000, timeout=120)
    assert projection.sequences() == list(range(1, 4001))
    assert projection.position("INTAKE") == 4000
    assert runner.health.lag == 0
    await bus.close()


async def test_fifty_thousand_pending_messages_are_applied_once_in_order_across_a_crash(nats_server, tmp_path):
    await _publish(nats_server.url, 1, 50_000)
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = Counting(engine)
    bus = await _bus(nats_server.url)
    first = ConsumerRunner(bus=bus, spec=SPEC, handler=projection)
    await _run_until(first, lambda: projection.count() >= 10_000, timeout=120)
    # A second process takes over (the first one crashed with messages in its buffer).
    second = ConsumerRunner(bus=bus, spec=SPEC, handler=Counting(engine))
    await _run_until(second, lambda: projection.count() == 50_000, timeout=300)
    assert projection.sequences() == list(range(1, 50_001))
    assert second.health.lag == 0 and second.health.position == 50_000
    await bus.close()


async def test_messages_taken_by_someone_else_on_the_way_are_read_again_from_the_database_position(
        nats_server, tmp_path):
    """A hole in the consumer sequence (here a second client pulling from the same consumer, as a
    fetch that expired with a message in flight would) makes the runner start again at its
    position + 1: nothing is skipped."""
    projection = Counting(create_engine(f"sqlite:///{tmp_path / 'p.db'}"))
    bus = await _bus(nats_server.url)
    runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, batch_size=10)
    await runner.subscribe()
    await _publish(nats_server.url, 1, 100)
    thief = await bus.js.pull_subscribe_bind(DURABLE, stream="INTAKE")
    assert len(await thief.fetch(5, timeout=5)) == 5
    before = runner.resubscribed
    await _run_until(runner, lambda: projection.count() == 100, timeout=60)
    assert projection.sequences() == list(range(1, 101))
    assert runner.resubscribed > before
    await bus.close()


async def test_a_consumer_the_server_lost_is_made_again_and_nothing_is_missed(nats_server, tmp_path):
    projection = Counting(create_engine(f"sqlite:///{tmp_path / 'p.db'}"))
    bus = await _bus(nats_server.url)
    runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, idle_check_seconds=0.5)
    await _publish(nats_server.url, 1, 50)
    await _run_until(runner, lambda: projection.count() == 50, timeout=60)
    await bus.js.delete_consumer("INTAKE", DURABLE)
    await _publish(nats_server.url, 51, 120)
    await _run_until(runner, lambda: projection.count() == 120, timeout=60)
    assert projection.sequences() == list(range(1, 121))
    await bus.close()


async def test_a_nats_restart_in_the_middle_of_a_backlog_loses_and_doubles_nothing(nats_server, tmp_path):
    await _publish(nats_server.url, 1, 20_000)
    projection = Counting(create_engine(f"sqlite:///{tmp_path / 'p.db'}"))
    bus = await _bus(nats_server.url)
    runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, idle_check_seconds=0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    deadline = time.monotonic() + 120
    while await asyncio.to_thread(projection.count) < 2000:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.to_thread(nats_server.stop)
    await asyncio.sleep(1)
    await asyncio.to_thread(nats_server.start)
    while await asyncio.to_thread(projection.count) < 20_000:
        assert time.monotonic() < deadline, runner.health.report(stall_seconds=60, max_failures=10)
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert projection.sequences() == list(range(1, 20_001))
    await bus.close()


async def test_the_lag_shows_messages_published_while_the_handler_hangs(nats_server, tmp_path):
    """/readyz's lag is the server's, not only the last fetch's: a handler stuck on a message
    fetches nothing more, and messages published meanwhile must show as lag (it said lag 1 for
    good: the end was what that fetch saw)."""
    release = threading.Event()

    class Hanging(Counting):
        def project(self, conn, envelope: Envelope) -> None:
            if envelope.sequence == 1:
                release.wait(60)
            super().project(conn, envelope)

    projection = Hanging(create_engine(f"sqlite:///{tmp_path / 'p.db'}"))
    bus = await _bus(nats_server.url)
    runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, end_check_seconds=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await _publish(nats_server.url, 1, 1)
        await _until(lambda: runner.health.end == 1, "the first message fetched")
        await _publish(nats_server.url, 2, 6)
        await _until(lambda: runner.health.end == 6 and runner.health.lag == 6, "the waiting messages shown")
        release.set()
        await _until(lambda: projection.count() == 6 and runner.health.lag == 0, "caught up")
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        await bus.close()


async def _until(done, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(done):
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)
