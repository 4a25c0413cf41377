"""The consumer runner applies a stream strictly in order; a poison message is dead-lettered."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import nats
import pytest
from sqlalchemy import BigInteger, Column, MetaData, Table, create_engine, select
from sqlalchemy.exc import OperationalError

from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.messaging.streams import STREAMS
from libs.platform.readmodels.projection import SqlProjection

pytestmark = pytest.mark.fault
SPEC = STREAMS["intake"]


class RecordingProjection(SqlProjection):
    """Records the order in which it applies messages; fails as told."""

    name = "order-test"

    def __init__(self, engine, fail: dict[int, int], error: type[Exception] = RuntimeError) -> None:
        metadata = MetaData()
        self.applied = Table("applied", metadata, Column("seq", BigInteger, primary_key=True),
                             Column("n", BigInteger, nullable=False))
        super().__init__(engine, metadata)
        self.fail = fail  # seq → how many more times to fail
        self.error = error

    def project(self, conn, envelope: Envelope) -> None:
        if self.fail.get(envelope.sequence, 0) > 0:
            self.fail[envelope.sequence] -= 1
            if self.error is OperationalError:
                raise OperationalError("INSERT …", {}, Exception("database is locked"))
            raise self.error(f"cannot apply {envelope.sequence} yet")
        n = conn.execute(select(self.applied.c.seq)).all()
        conn.execute(self.applied.insert().values(seq=envelope.sequence, n=len(n)))

    def order(self) -> list[int]:
        with self.engine.connect() as conn:
            return [r.seq for r in conn.execute(select(self.applied).order_by(self.applied.c.n))]


def _envelope(seq: int) -> bytes:
    return Envelope(id=f"id-{seq}", source="/tsunagu/intake", type="jp.tsunagu.intake.Probe.v1",
                    subject="s", time="2016-04-01T00:00:00+09:00", tenant="130001", sequence=seq,
                    aggregate="probe", data={}).to_json()


async def _publish(url: str, payloads: list[bytes]) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    for p in payloads:
        await js.publish("intake.130001.probe.Probe", p)
    await nc.close()


@contextlib.asynccontextmanager
async def _bus(url: str) -> AsyncIterator[Bus]:
    """A bus connected to the test's nats-server, with the INTAKE stream made; closed after."""
    bus = Bus(url, "test")
    await bus.connect()
    try:
        await bus.ensure_stream(SPEC)
        yield bus
    finally:
        await bus.close()


async def _drain(runner: ConsumerRunner, until) -> None:
    for _ in range(200):
        await runner.step(timeout=0.2)
        if until():
            return
    raise AssertionError("the runner did not get there")


async def _arrived(received: list, count: int, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(received) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(received)} of {count} messages arrived in {timeout} s: {received}")
        await asyncio.sleep(0.05)


async def test_a_failure_stops_the_batch_so_nothing_after_it_is_applied_first(nats_server, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = RecordingProjection(engine, fail={3: 2})
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, 7)])
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=5)
        await _drain(runner, lambda: len(projection.order()) == 6)
        assert projection.order() == [1, 2, 3, 4, 5, 6]
        assert projection.position("INTAKE") == 6 and runner.dead_lettered == 0


async def test_a_poison_message_goes_to_the_dead_letter_subject_and_the_stream_moves_on(nats_server, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = RecordingProjection(engine, fail={2: 999})
    async with _bus(nats_server.url) as bus:
        dead: list[dict] = []
        listener = await nats.connect(nats_server.url)

        async def on_dead_letter(msg) -> None:
            dead.append(json.loads(msg.data))

        await listener.subscribe("deadletter.>", cb=on_dead_letter)
        await _publish(nats_server.url, [_envelope(1), _envelope(2), b"not json at all", _envelope(4)])
        store = DeadLetters(engine)
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=3, dead_letters=store)
        await _drain(runner, lambda: projection.position("INTAKE") == 4)
        await _arrived(dead, 2)  # plain NATS messages: they reach the listener a little later
        assert projection.order() == [1, 4]
        assert runner.dead_lettered == 2
        assert sorted(d["stream_sequence"] for d in dead) == [2, 3]
        assert all(d["consumer"] == "order-test-intake" for d in dead)
        with engine.connect() as conn:
            reasons = conn.execute(select(projection.skipped.c.position, projection.skipped.c.reason)).all()
        assert [r.position for r in sorted(reasons)] == [2, 3]
        assert "invalid envelope" in dict(reasons)[3]
        # Kept in the database: a restarted service still reports them until an operator resolves them.
        assert DeadLetters(engine).open_count() == 2
        assert [(d["consumer"], d["position"]) for d in store.listed(open_only=True)] == [
            ("order-test-intake", 2), ("order-test-intake", 3)]
        assert store.resolve(consumer="order-test-intake", stream="INTAKE", position=2, by="ops")
        assert not store.resolve(consumer="order-test-intake", stream="INTAKE", position=2, by="ops")
        assert store.open_count() == 1
        await listener.close()


async def test_an_infrastructure_failure_is_retried_past_max_deliver_and_never_dead_lettered(nats_server, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = RecordingProjection(engine, fail={2: 8}, error=OperationalError)  # e.g. the database locked
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, 5)])
        store = DeadLetters(engine)
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=3, dead_letters=store)
        await _drain(runner, lambda: projection.position("INTAKE") == 4)
        assert projection.order() == [1, 2, 3, 4]
        assert runner.dead_lettered == 0 and store.open_count() == 0
        assert projection.fail[2] == 0  # it failed eight times, more than max_deliver
