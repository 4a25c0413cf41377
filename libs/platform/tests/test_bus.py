"""The bus publishes round after round on one JetStream context: the reply inbox that
`publish_async` subscribes is made once per connection, not once per round."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nats.js.api import StreamConfig

from libs.platform.messaging.bus import Bus
from libs.platform.messaging.streams import AUDIT_STREAM, STREAMS
from libs.platform.tools.natsserver import MIN_VERSION, EmbeddedNats, version


def test_rounds_of_async_publishes_leave_no_subscription_behind(tmp_path: Path):
    server = EmbeddedNats(tmp_path / "nats")
    server.start()

    async def rounds() -> list[int]:
        bus = Bus(server.url, name="tsunagu-test")
        await bus.connect()
        try:
            await bus.js.add_stream(StreamConfig(name="ROUNDS", subjects=["rounds.>"]))
            subscriptions = []
            for n in range(20):  # as the relay does: each round asks the bus for its context
                js = bus.js
                acks = await asyncio.gather(*[await js.publish_async(f"rounds.{n}", b"x") for _ in range(5)])
                assert len(acks) == 5
                subscriptions.append(len(bus.client._subs))
            return subscriptions
        finally:
            await bus.close()

    try:
        subscriptions = asyncio.run(rounds())
    finally:
        server.stop()
    assert subscriptions == [subscriptions[0]] * 20, subscriptions


def test_a_relays_stream_takes_atomic_batches_whether_created_now_or_before(tmp_path: Path):
    """ensure_stream makes a relay's stream with allow_atomic and sets it on one made before without
    it (messaging/relay_order.py publishes each batch as one atomic batch); the other settings of an
    existing stream stay as they are, and AUDIT (not a relay's) is left without it."""
    server = EmbeddedNats(tmp_path / "nats")
    server.start()

    async def ensure() -> tuple[bool | None, ...]:
        bus = Bus(server.url, name="tsunagu-test")
        await bus.connect()
        try:
            await bus.js.add_stream(StreamConfig(name="REGISTRY", subjects=["registry.>"], max_msgs=12345))
            for spec in (STREAMS["intake"], STREAMS["registry"], AUDIT_STREAM):
                await bus.ensure_stream(spec)
            intake, registry, audit = [(await bus.js.stream_info(name)).config for name in ("INTAKE", "REGISTRY",
                                                                                            "AUDIT")]
            return intake.allow_atomic, registry.allow_atomic, registry.max_msgs == 12345, audit.allow_atomic
        finally:
            await bus.close()

    try:
        assert asyncio.run(ensure()) == (True, True, True, None)
    finally:
        server.stop()


def test_the_wheels_nats_server_announces_a_version_that_takes_atomic_batches(tmp_path: Path):
    """`make run` uses a nats-server already answering on NATS_URL only when it is this recent
    (libs/platform/tools/launcher.py): a distribution's older one would refuse the relays' batches."""
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        found = version(server.url)
    finally:
        server.stop()
    assert found is not None and found >= MIN_VERSION, found
    assert version(server.url) is None  # stopped: nothing answers
