"""The bus publishes round after round on one JetStream context: the reply inbox that
`publish_async` subscribes is made once per connection, not once per round."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nats.js.api import StreamConfig

from libs.platform.messaging.bus import Bus
from libs.platform.tools.natsserver import EmbeddedNats


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
