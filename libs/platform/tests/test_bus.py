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


def test_a_message_whose_headers_take_it_over_max_payload_is_refused_here_and_the_connection_stays(tmp_path: Path):
    """nats-py checks the body alone against max_payload; the server counts the headers too and
    answers a larger message with an error that closes the connection. The relay's publish checks both
    (as the server does): the one message is refused, the connection stays."""
    from nats.errors import MaxPayloadError

    from libs.platform.messaging.relay_order import publish_atomic

    server = EmbeddedNats(tmp_path / "nats", max_payload=512)
    server.start()

    async def publish() -> tuple[str, int, bool]:
        bus = Bus(server.url, name="tsunagu-test")
        await bus.connect()
        try:
            await bus.js.add_stream(StreamConfig(name="SIZES", subjects=["sizes.>"]))
            _, ack = await publish_atomic(bus, [("sizes.a", b"x" * 300, {"Nats-Msg-Id": "a"})], 0)
            await ack  # fits with its headers
            try:
                await publish_atomic(bus, [("sizes.b", b"x" * 480, {"Nats-Msg-Id": "b"})], 1)
                refused = "published"
            except MaxPayloadError:
                refused = "MaxPayloadError"
            await asyncio.sleep(0.5)  # what the server's error would have closed by now
            return refused, (await bus.js.stream_info("SIZES")).state.messages, bus.client.is_connected
        finally:
            await bus.close()

    try:
        refused, messages, connected = asyncio.run(publish())
    finally:
        server.stop()
    assert (refused, messages, connected) == ("MaxPayloadError", 1, True)


def test_a_connection_the_server_closes_for_good_is_made_anew(tmp_path: Path):
    """Any `-ERR` from the server makes nats-py close its client for good (no reconnect): the bus
    connects anew, so every loop that asks it for its client or context carries on."""
    server = EmbeddedNats(tmp_path / "nats", max_payload=512)
    server.start()

    async def closed_and_back() -> tuple[bool, int, int]:
        bus = Bus(server.url, name="tsunagu-test")
        await bus.connect()
        try:
            first = bus.client
            await bus.js.add_stream(StreamConfig(name="AGAIN", subjects=["again.>"]))
            await first.publish("again.x", b"x" * 450, headers={"Big": "y" * 100})  # past the server's check
            for _ in range(200):
                if bus.connected and bus.client is not first:
                    break
                await asyncio.sleep(0.05)
            ack = await bus.js.publish("again.y", b"after")
            return first.is_closed, ack.seq, bus.reconnects
        finally:
            await bus.close()

    try:
        closed, seq, reconnects = asyncio.run(closed_and_back())
    finally:
        server.stop()
    assert closed and seq == 1 and reconnects >= 1
