"""A catch-up takes the messages waiting for it without a wait per message (messaging/pull.py,
issue 15: nats-py's fetch made two tasks, a uuid4 and a timer for each), and still takes every one
once, in order, across a batch cut short by its deadline."""

from __future__ import annotations

import contextlib

import pytest
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeout
from sqlalchemy import create_engine

from libs.platform.messaging.consumer import ConsumerRunner
from libs.platform.messaging.pull import pull
from tests.fault.test_consumer_order import SPEC, RecordingProjection, _bus, _drain, _envelope, _publish

pytestmark = pytest.mark.fault


async def test_a_backlog_is_taken_without_a_wait_per_message_and_in_order(nats_server, tmp_path, monkeypatch):
    waits: list[int] = []
    next_msg = Subscription.next_msg

    async def counted(self, timeout=1.0):
        waits.append(1)
        return await next_msg(self, timeout)

    monkeypatch.setattr(Subscription, "next_msg", counted)
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    projection = RecordingProjection(engine, fail={})
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, 201)])
        runner = ConsumerRunner(bus=bus, spec=SPEC, handler=projection, batch_size=20)
        await _drain(runner, lambda: runner.health.position == 200)
        assert projection.order() == list(range(1, 201))
        assert runner.resubscribed == 1  # no hole seen: nothing lost between the server and us
        # The first batch by nats-py's fetch (nothing said to wait yet): its 20 messages; the rest,
        # said to wait, taken from the queue as they came.
        assert len(waits) <= 25, len(waits)


async def test_a_pull_cut_short_leaves_the_rest_for_the_next_in_order(nats_server):
    async with _bus(nats_server.url) as bus:
        await _publish(nats_server.url, [_envelope(i) for i in range(1, 61)])
        sub = await bus.js.pull_subscribe("intake.>", durable="pull-test", stream=SPEC.name)
        taken: list[int] = []
        with contextlib.suppress(NatsTimeout):  # the deadline passes before most (or any) arrive
            taken += [m.metadata.sequence.stream for m in await pull(sub, 50, timeout=0.000_001)]
        while len(taken) < 60:
            taken += [m.metadata.sequence.stream for m in await pull(sub, 50, timeout=2)]
        assert taken == list(range(1, 61))
        assert await pull(sub, 50, timeout=2) == []  # the server says none waits: at once, not a timeout
