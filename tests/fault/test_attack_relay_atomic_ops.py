"""Attack (h-attack2 on merge-s29): what an operator, or someone holding NATS credentials, does to
the stream settings and the server state the relay's atomic batches depend on (messaging/relay_order.py).

Held, each measured on nats-server 2.15.1 (R1):
- allow_atomic turned off on the stream at runtime: every batch of more than one message is refused
  (10174 "atomic publish is disabled"), nothing of it stored; /readyz names the relay and the reason;
  turned on again, the relay catches up with every event once, in log order.
- a stream an older release created without allow_atomic (the upgrade): the relay sets it at start
  (where its user may update the stream) and publishes in order.
- 50 batches of someone else's left uncommitted on the stream (the server stages at most 50 a
  stream): the relay's batches are refused (its first message as one too many, 10210, its commit
  as "incomplete"), it is unready meanwhile, /readyz naming the cause (too many batches in flight on
  the server: "incomplete" before h-debts), and once the server drops them (10 s uncommitted)
  it catches up, nothing lost or doubled. Someone who renews them every few seconds holds the relay
  still as long as they do: loud, not silent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable

import nats
import pytest
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from libs.platform.messaging.relay_order import BATCH_ID, BATCH_SEQUENCE
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _consult
from tests.fault.test_readiness import _ready, _unready_because
from tests.fault.test_relay_in_flight import _gated
from tests.fault.test_relay_order import _on_stream
from tests.harness import assert_stream_is_the_log_once, eventually

pytestmark = pytest.mark.fault


def _allow_atomic(nats_url: str, allowed: bool) -> None:
    async def go(js) -> None:
        await js.update_stream(dataclasses.replace((await js.stream_info("INTAKE")).config, allow_atomic=allowed))

    _on_stream(nats_url, go)


def _stalled_batch(start_service, nats_url: str, before: Callable[[], object], *reason: str):
    """Intake with its relay idle, before() called, one batch of 5 sent: the relay is unready,
    naming `reason`, with a lag; returns intake."""
    intake = start_service("intake", nats_url, stall_seconds=2, max_loop_failures=3)  # the reason soon
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    gate = _gated(relay)
    _consult(intake, centre_id, case_id, 5)  # one batch of 5
    before()
    gate.set()
    _unready_because(intake, "relay INTAKE", *reason)
    assert relay.lag() > 0
    return intake


def _caught_up_once(intake, nats_url: str, timeout: float) -> None:
    eventually(lambda: intake.runtime.relay.lag() == 0, timeout=timeout)
    _ready(intake, "relay_lag")
    assert_stream_is_the_log_once(intake, nats_url)


def test_allow_atomic_turned_off_at_runtime_is_loud_and_nothing_is_lost_once_on_again(
        nats_server, start_service):
    intake = _stalled_batch(start_service, nats_server.url, lambda: _allow_atomic(nats_server.url, False),
                            "atomic publish is disabled")
    _allow_atomic(nats_server.url, True)
    _caught_up_once(intake, nats_server.url, 30)


def test_a_stream_an_older_release_made_without_allow_atomic_is_upgraded_and_kept_in_order(
        nats_server, start_service):
    async def older(js) -> None:
        await js.add_stream(StreamConfig(name="INTAKE", subjects=["intake.>"], storage=StorageType.FILE,
                                         retention=RetentionPolicy.LIMITS, duplicate_window=600))

    _on_stream(nats_server.url, older)
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 5)
    eventually(lambda: relay.lag() == 0, timeout=30)
    assert _on_stream(nats_server.url, lambda js: js.stream_info("INTAKE")).config.allow_atomic
    assert_stream_is_the_log_once(intake, nats_server.url)


def _stage_foreign_batches(nats_url: str, count: int) -> None:
    """`count` atomic batches of one message each, none committed, on INTAKE's subjects."""
    async def go() -> None:
        nc = await nats.connect(nats_url)
        try:
            for _ in range(count):
                await nc.publish("intake.130001.probe.Probe", b"not a relay's",
                                 headers={BATCH_ID: uuid.uuid4().hex, BATCH_SEQUENCE: "1"})
            await nc.flush()
        finally:
            await nc.close()

    asyncio.run(go())


def test_fifty_foreign_batches_left_open_stall_the_relay_loudly_until_the_server_drops_them(
        nats_server, start_service, caplog):
    intake = _stalled_batch(start_service, nats_server.url, lambda: _stage_foreign_batches(nats_server.url, 50),
                            "too many batches in flight on the server", "10210")
    _caught_up_once(intake, nats_server.url, 40)  # the server drops them 10 s after their last message
    refusals = [r.getMessage() for r in caplog.records if "refused by the stream" in r.getMessage()]
    assert refusals, "the relay's batches were not refused"
