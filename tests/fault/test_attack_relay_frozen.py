"""Attack (h-attack2 on merge-s29): a batch left uncommitted past the server's 10 s (the server drops
it: messaging/relay_order.py), by a frozen relay or a frozen server.

- The relay's process stalled (its event loop blocked, as by SIGSTOP, 12 s) between two messages of a
  batch of 500, then going on: the server dropped the first part, the rest arrives without it and
  the commit is refused (incomplete); the relay compares with the stream and sends the batch again.
- nats-server frozen (SIGSTOP) 12 s inside a batch of 500, then thawed (test_attack_relay_sigstop.py
  thawed it as soon as the relay was unready, within the 10 s).
Held when the stream holds every event once, in log order, and the relay is ready again."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from libs.platform.messaging.cloudevents import Envelope
from tests.fault.test_attack_relay_kills import _runs
from tests.fault.test_readiness import _ready, _unready_because
from tests.fault.test_relay_in_flight import _on_each_relay_message
from tests.fault.test_relay_order import _backlog
from tests.harness import assert_stream_is_the_log_once, eventually, log_positions, stream_messages

pytestmark = pytest.mark.fault
FROZEN = 12.0  # seconds: past the server's 10 s for an uncommitted batch


def _in_log_order(intake, nats_url: str) -> None:
    stream = [Envelope.from_json(m.data).sequence for m in stream_messages(nats_url, "INTAKE")]
    log = log_positions(intake)
    assert stream == log, f"stream order {_runs(stream)} vs log {_runs(log)}"
    assert_stream_is_the_log_once(intake, nats_url)


def _frozen_at_the_300th(intake, ack_timeout: float, freeze: Callable[[], object]) -> threading.Event:
    """A backlog of 1,500 sent in batches of 500, freeze() called once right before the relay's 300th
    message, the first 299 flushed to the server; returns the event set once it was."""
    relay = intake.runtime.relay
    relay.batch_size, relay.ack_timeout = 500, ack_timeout
    gate = _backlog(intake)
    frozen = threading.Event()

    async def publishing(count: int) -> None:
        if count == 300 and not frozen.is_set():
            await relay.bus.client.flush()
            freeze()
            frozen.set()
            await asyncio.sleep(0)

    _on_each_relay_message(relay, publishing)
    gate.set()
    assert frozen.wait(90), "the relay never reached its 300th message"
    return frozen


def test_the_relay_stalled_past_ten_seconds_inside_a_batch_sends_it_again(nats_server, start_service, caplog):
    intake = start_service("intake", nats_server.url)
    _frozen_at_the_300th(intake, 5.0, lambda: time.sleep(FROZEN))  # the whole loop stands still, as if stopped
    eventually(lambda: intake.runtime.relay.lag() == 0, timeout=120)
    refusals = [r.getMessage() for r in caplog.records if "refused by the stream" in r.getMessage()]
    assert any("incomplete" in r for r in refusals), refusals
    _in_log_order(intake, nats_server.url)
    _ready(intake, "relay_lag")


def test_nats_frozen_past_ten_seconds_inside_a_batch_then_thawed_loses_and_doubles_nothing(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url, stall_seconds=2)
    try:
        _frozen_at_the_300th(intake, 1.0, lambda: os.kill(nats_server.proc.pid, signal.SIGSTOP))
        _unready_because(intake, "relay INTAKE")
        time.sleep(FROZEN)  # the state waited for is the clock's: the server's 10 s
    finally:
        os.kill(nats_server.proc.pid, signal.SIGCONT)
    eventually(lambda: intake.runtime.relay.lag() == 0, timeout=120)
    _in_log_order(intake, nats_server.url)
    _ready(intake, "relay_lag")


def test_the_relay_stopped_between_two_messages_of_a_batch_and_restarted_never_stores_the_half(
        nats_server, start_service):
    """The relay's service stopped while its loop stands between the 299th and the 300th message of
    a batch of 500 (as a process killed there: the rest never goes out), started again at once:
    the 299 staged wait for a commit that never comes (the server drops them after 10 s), the new
    relay sends the batch again under a new id."""
    intake = start_service("intake", nats_server.url)
    never = asyncio.Event()
    relay = intake.runtime.relay
    relay.batch_size, relay.ack_timeout = 500, 5.0
    gate = _backlog(intake)
    stopped = threading.Event()

    async def publishing(count: int) -> None:
        if count == 300 and not stopped.is_set():
            await relay.bus.client.flush()  # the first 299 are with the server
            stopped.set()
            await never.wait()  # the loop stands here until the service stops

    _on_each_relay_message(relay, publishing)
    gate.set()
    assert stopped.wait(90), "the relay never reached its 300th message"
    intake.stop()
    intake.start()
    eventually(lambda: intake.runtime.relay.lag() == 0, timeout=120)
    _in_log_order(intake, nats_server.url)
