"""The bus publishes round after round on one JetStream context: the reply inbox that
`publish_async` subscribes is made once per connection, not once per round."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from nats.js.api import StreamConfig

from libs.platform.messaging.bus import Bus
from libs.platform.messaging.streams import AUDIT_STREAM, STREAMS
from libs.platform.tools.natsserver import MIN_VERSION, EmbeddedNats, version

T = TypeVar("T")


def _on_a_bus(tmp_path: Path, stream: StreamConfig, body: Callable[[Bus], Awaitable[T]], **server: Any) -> T:
    """What `body` returns, run on a bus connected to a server of its own (started with `server`'s
    options) that holds `stream`; the bus is closed and the server stopped whatever happens."""
    nats_server = EmbeddedNats(tmp_path / "nats", **server)
    nats_server.start()

    async def run() -> T:
        bus = Bus(nats_server.url, name="tsunagu-test")
        await bus.connect()
        try:
            await bus.js.add_stream(stream)
            return await body(bus)
        finally:
            await bus.close()

    try:
        return asyncio.run(run())
    finally:
        nats_server.stop()


def test_rounds_of_async_publishes_leave_no_subscription_behind(tmp_path: Path):
    async def rounds(bus: Bus) -> list[int]:
        subscriptions = []
        for n in range(20):  # as the relay does: each round asks the bus for its context
            js = bus.js
            acks = await asyncio.gather(*[await js.publish_async(f"rounds.{n}", b"x") for _ in range(5)])
            assert len(acks) == 5
            subscriptions.append(len(bus.client._subs))
        return subscriptions

    subscriptions = _on_a_bus(tmp_path, StreamConfig(name="ROUNDS", subjects=["rounds.>"]), rounds)
    assert subscriptions == [subscriptions[0]] * 20, subscriptions


def test_a_relays_stream_takes_atomic_batches_whether_created_now_or_before(tmp_path: Path):
    """ensure_stream makes a relay's stream with allow_atomic and sets it on one made before without
    it (messaging/relay_order.py publishes each batch as one atomic batch); the other settings of an
    existing stream stay as they are, and AUDIT (not a relay's) is left without it."""
    async def ensure(bus: Bus) -> tuple[bool | None, ...]:
        for spec in (STREAMS["intake"], STREAMS["registry"], AUDIT_STREAM):
            await bus.ensure_stream(spec)
        intake, registry, audit = [(await bus.js.stream_info(name)).config for name in ("INTAKE", "REGISTRY",
                                                                                        "AUDIT")]
        return intake.allow_atomic, registry.allow_atomic, registry.max_msgs == 12345, audit.allow_atomic

    made_before = StreamConfig(name="REGISTRY", subjects=["registry.>"], max_msgs=12345)
    assert _on_a_bus(tmp_path, made_before, ensure) == (True, True, True, None)


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


def test_a_message_whose_headers_take_it_over_max_payload_is_refused_here_and_the_connection_stays(tmp_path: Path):
    """nats-py checks the body alone against max_payload; the server counts the headers too and
    answers a larger message with an error that closes the connection. The relay's publish checks both
    (as the server does): the one message is refused, the connection stays."""
    from nats.errors import MaxPayloadError

    from libs.platform.messaging.relay_order import publish_atomic

    async def publish(bus: Bus) -> tuple[str, int, bool]:
        _, ack = await publish_atomic(bus, [("sizes.a", b"x" * 300, {"Nats-Msg-Id": "a"})], 0)
        await ack  # fits with its headers
        try:
            await publish_atomic(bus, [("sizes.b", b"x" * 480, {"Nats-Msg-Id": "b"})], 1)
            refused = "published"
        except MaxPayloadError:
            refused = "MaxPayloadError"
        await asyncio.sleep(0.5)  # what the server's error would have closed by now
        return refused, (await bus.js.stream_info("SIZES")).state.messages, bus.client.is_connected

    sizes = StreamConfig(name="SIZES", subjects=["sizes.>"])
    assert _on_a_bus(tmp_path, sizes, publish, max_payload=512) == ("MaxPayloadError", 1, True)


def test_a_connection_the_server_closes_for_good_is_made_anew(tmp_path: Path):
    """Any `-ERR` from the server makes nats-py close its client for good (no reconnect): the bus
    connects anew, so every loop that asks it for its client or context carries on."""
    async def closed_and_back(bus: Bus) -> tuple[bool, int, int]:
        first = bus.client
        await first.publish("again.x", b"x" * 450, headers={"Big": "y" * 100})  # past the server's check
        for _ in range(200):
            if bus.connected and bus.client is not first:
                break
            await asyncio.sleep(0.05)
        ack = await bus.js.publish("again.y", b"after")
        return first.is_closed, ack.seq, bus.reconnects

    again = StreamConfig(name="AGAIN", subjects=["again.>"])
    closed, seq, reconnects = _on_a_bus(tmp_path, again, closed_and_back, max_payload=512)
    assert closed and seq == 1 and reconnects >= 1
