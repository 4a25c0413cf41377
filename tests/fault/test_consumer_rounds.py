"""The consumer runner keeps its position in memory while subscribed (issue 15: reading it before
and after every batch was two trips to a worker thread and a database read each, on the path of
every message's lag): it reads it when the consumer is made and again after a failure, and a
failure still stops the batch with nothing applied out of order."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from libs.platform.messaging.consumer import ConsumerRunner
from tests.fault.test_consumer_order import SPEC, RecordingProjection, _bus, _drain, _envelope, _publish

pytestmark = pytest.mark.fault
AN_HOUR = 3600.0


class CountingProjection(RecordingProjection):
    """Counts how often its recorded position is read."""

    def __init__(self, engine, fail: dict[int, int]) -> None:
        super().__init__(engine, fail)
        self.reads = 0

    def position(self, stream: str) -> int:
        self.reads += 1
        return super().position(stream)


async def test_a_subscribed_consumer_reads_its_position_only_when_made_and_after_a_failure(nats_server, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = CountingProjection(engine, fail={6: 2})
    async with _bus(nats_server.url) as bus:
        # No idle check during the test: it reads the position on a timer, which is not a batch's read.
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=5, idle_check_seconds=AN_HOUR)
        await _publish(nats_server.url, [_envelope(1), _envelope(2)])
        await _drain(runner, lambda: runner.health.position == 2)
        assert runner.resubscribed == 1

        reads = projection.reads
        for batch in ([3], [4, 5]):  # a batch of one (applied alone) and of two (in one transaction)
            await _publish(nats_server.url, [_envelope(i) for i in batch])
            await _drain(runner, lambda b=batch: runner.health.position == b[-1])
        assert projection.reads == reads  # kept in memory: no batch read it
        assert RecordingProjection.position(projection, "INTAKE") == 5  # ...and it is the recorded one

        await _publish(nats_server.url, [_envelope(6), _envelope(7)])  # 6 fails in the batch and alone, then applies
        await _drain(runner, lambda: runner.health.position == 7)
        assert projection.reads > reads  # read again after the failure
        assert projection.order() == [1, 2, 3, 4, 5, 6, 7]
        assert runner.resubscribed == 1 and runner.dead_lettered == 0
