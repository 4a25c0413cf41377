"""Attack (h-attack on merge-s27): the consumer's retry-then-bisect of a failed batch
(messaging/consumer_batches.py) where bisection is hardest: the poison first or last in the batch,
two poisons (apart, adjacent), every message of a tail failing, and a message that fails a few times
and then succeeds (fewer than max_deliver). Held when every good message is applied once, in order,
each poison dead-lettered once, and the position reaches the stream's end."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.deadletters import DeadLetters
from tests.fault.test_consumer_bisect import MAX_DELIVER, CountingProjection
from tests.fault.test_consumer_order import SPEC, _bus, _drain, _envelope, _publish

pytestmark = pytest.mark.fault
N = 600
FOREVER = 999

CASES = {
    "first": {1: FOREVER},
    "last": {N: FOREVER},
    "two-apart": {100: FOREVER, 450: FOREVER},
    "two-adjacent": {300: FOREVER, 301: FOREVER},
    "tail": dict.fromkeys(range(N - 5, N + 1), FOREVER),
    "flaky": {250: MAX_DELIVER - 1},  # fails, fails, then applies
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bisecting_finds_every_poison_and_applies_the_rest_once_in_order(case, nats_server, tmp_path):
    fail = dict(CASES[case])
    poisons = {s for s, n in fail.items() if n >= MAX_DELIVER}
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = CountingProjection(engine, fail=fail)
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, N + 1)])
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, max_deliver=MAX_DELIVER,
                                batch_size=N, dead_letters=DeadLetters(engine))
        await _drain(runner, lambda: projection.position("INTAKE") == N)
        assert projection.sequences() == [s for s in range(1, N + 1) if s not in poisons]
        assert runner.dead_lettered == len(poisons) and projection.skips == len(poisons)
