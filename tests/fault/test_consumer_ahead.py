"""The consumer runner fetches the next batch while one is applied (issue 15: fetch and apply took
turns, so a catch-up cost their sum), and still applies strictly in order, a failure first."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine

from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.delivery import DECODED
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
        self.waited(envelopes)
        super().apply_batch(envelopes, stream, position)

    def waited(self, envelopes) -> None:
        self.ahead.append(len(self.runner._buffer) - len(envelopes))


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


class DecodedAheadProjection(WaitingProjection):
    """Also keeps, per batch, how many of the messages fetched behind it were decoded by then."""

    def __init__(self, engine, fail: dict[int, int]) -> None:
        super().__init__(engine, fail)
        self.decoded_behind: list[int] = []

    def waited(self, envelopes) -> None:
        super().waited(envelopes)
        deadline = time.monotonic() + 3.0  # the whole next batch in the buffer, not the first of it
        while len(self.runner._buffer) < 2 * len(envelopes) and time.monotonic() < deadline:
            time.sleep(0.005)
        behind = self.runner._buffer[len(envelopes):]
        self.decoded_behind.append(sum(DECODED in vars(m) for m in behind))


async def test_a_batch_fetched_ahead_is_decoded_while_the_one_before_is_applied_and_a_bad_one_fails_in_place(
        nats_server, tmp_path):
    """Decoding came between two applies (issue 15); now the fetch ahead decodes, the worker thread
    applying meanwhile. A message that does not decode is left to fail at its turn, in order."""
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = DecodedAheadProjection(engine, fail={})
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [b"not json" if i == 7 else _envelope(i) for i in range(1, 13)])
        projection.runner = runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, batch_size=4)
        await _drain(runner, lambda: runner.health.position == 12)
        assert projection.decoded_behind[0] == 3  # 5, 6 and 8 decoded while 1-4 were applied; 7 is not JSON
        assert projection.order() == [i for i in range(1, 13) if i != 7]
        assert runner.dead_lettered == 1 and projection.position("INTAKE") == 12
