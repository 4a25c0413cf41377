"""A PubAck asked for on a connection that is then lost never comes: nats-py 2.16 reconnects the same
client and leaves the publish's future waiting, for ever for a caller without a timeout of its own
(the relay waited out its ack timeout). The bus fails such futures as soon as the connection is lost."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from nats.errors import ConnectionClosedError

from libs.platform.messaging.bus import Bus
from tests.harness import eventually

pytestmark = pytest.mark.fault


async def test_a_puback_asked_for_before_the_connection_was_lost_fails_at_once_instead_of_waiting(nats_server):
    bus = Bus(nats_server.url, "test-disconnect")
    await bus.connect()
    try:
        await bus.js.add_stream(name="LOST", subjects=["lost.>"])
        await (await bus.js.publish_async("lost.a", b"first"))  # the reply inbox is subscribed
        os.kill(nats_server.proc.pid, signal.SIGSTOP)  # written to the socket, never answered
        try:
            pending = await bus.js.publish_async("lost.a", b"second")
            await asyncio.sleep(0.2)  # nats-py's flusher writes it
        finally:
            os.kill(nats_server.proc.pid, signal.SIGKILL)
            os.kill(nats_server.proc.pid, signal.SIGCONT)
            nats_server.proc.wait()
        nats_server.proc = None
        nats_server.start()  # the same port: nats-py reconnects the same client
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(pending, timeout=30)
        await asyncio.to_thread(eventually, lambda: bus.connected, timeout=30)
        assert await bus.wait_connected()
        ack = await asyncio.wait_for(await bus.js.publish_async("lost.a", b"third"), timeout=30)
        assert ack.stream == "LOST"  # the new connection publishes and hears its PubAcks
    finally:
        bus.stopping()
        if bus.nc is not None:
            await bus.nc.close()
