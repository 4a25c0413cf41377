"""The consumer runner fetches the next batch while one is applied (issue 15: fetch and apply took
turns, so a catch-up cost their sum), and still applies strictly in order, a failure first."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine

from libs.platform.messaging.consumer import ConsumerRunner
from tests.fault.test_consumer_order import SPEC, RecordingProjection, _bus, _drain, _envelope, _publish

pytestmark = pytest.mark.fault


class WaitingProjection(RecordingProjection):
    """Each batch waits (in its worker thread) until the runner holds more than that batch, or a
    deadline: what it saw fetched ahead is kept per batch."""

    runner: ConsumerRunner

    def __init__(self, engine, fail: dict[int, int]) -> None:
        super().__init__(engine, fail)
        self.ahead: list[int] = []

    def apply_batch(self, envelopes, stream, position) -> None:
        deadline = time.monotonic() + 3.0
        while len(self.runner._buffer) <= len(envelopes) and time.monotonic() < deadline:
            time.sleep(0.005)  # the event loop fetches meanwhile, or not
        self.ahead.append(len(self.runner._buffer) - len(envelopes))
        super().apply_batch(envelopes, stream, position)


async def test_the_next_batch_is_fetched_while_one_is_applied_and_order_holds_through_a_failure(nats_server,
                                                                                                 tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = WaitingProjection(engine, fail={6: 2})  # 6 fails in its batch and alone, then applies
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, 17)])
        projection.runner = runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, batch_size=4)
        await _drain(runner, lambda: runner.health.position == 16)
        assert projection.ahead[0] == 4  # 5-8 arrived while 1-4 were applied
        assert projection.order() == list(range(1, 17))
        assert projection.position("INTAKE") == 16 and runner.dead_lettered == 0
        assert runner.health.end == 16 and not runner._buffer
        assert runner.resubscribed == 1  # no gap was seen: nothing fetched ahead was lost
