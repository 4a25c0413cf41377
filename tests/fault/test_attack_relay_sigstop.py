"""Attack (h-attack on merge-s27): nats-server frozen (SIGSTOP) inside a large relay batch, for longer
than the relay's ack timeout, then thawed (SIGCONT): the connection survives, what the client wrote
meanwhile waits in the socket, the relay's PubAcks time out and it compares with a stream that does
not answer. Held when, thawed, the stream holds every event once in log order (the order header,
messaging/relay_order.py), and while frozen /readyz says the relay is not caught up."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from libs.platform.messaging.cloudevents import Envelope
from tests.fault.test_attack_relay_kills import _runs
from tests.fault.test_readiness import _ready, _unready_because
from tests.fault.test_relay_in_flight import _on_each_relay_message
from tests.fault.test_relay_order import _backlog
from tests.harness import assert_stream_is_the_log_once, eventually, log_positions, stream_messages

pytestmark = pytest.mark.fault


def _freeze_at(relay, nats_server, at: int, frozen: threading.Event) -> None:
    async def publishing(count: int) -> None:
        if count == at:
            os.kill(nats_server.proc.pid, signal.SIGSTOP)
            frozen.set()
            await asyncio.sleep(0)

    _on_each_relay_message(relay, publishing)

def test_nats_frozen_inside_a_large_batch_then_thawed_keeps_the_stream_the_log_once(nats_server, start_service):
    intake = start_service("intake", nats_server.url, stall_seconds=2)
    relay = intake.runtime.relay
    relay.batch_size, relay.ack_timeout = 500, 1.0
    gate = _backlog(intake)
    frozen = threading.Event()
    _freeze_at(relay, nats_server, 300, frozen)
    gate.set()
    try:
        assert frozen.wait(60), "the relay never reached the 300th publish"
        eventually(lambda: relay.health.failures > 0, timeout=30)  # its acks timed out
        assert relay.lag() > 0
        _unready_because(intake, "relay INTAKE")  # frozen past the stall time: named, not silent
    finally:
        os.kill(nats_server.proc.pid, signal.SIGCONT)
    eventually(lambda: relay.lag() == 0, timeout=120)
    stream = [Envelope.from_json(m.data).sequence for m in stream_messages(nats_server.url, "INTAKE")]
    log = log_positions(intake)
    assert stream == log, f"stream order {_runs(stream)} vs log {_runs(log)}"
    assert_stream_is_the_log_once(intake, nats_server.url)
    _ready(intake, "relay_lag")
