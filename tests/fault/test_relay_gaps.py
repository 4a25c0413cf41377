"""A stream that lost messages is never "ready" (messaging/stream_gaps.py): our streams keep every
event forever, so an operator who deletes a message (the last one or one in the middle) or purges
the stream while the relay runs makes the service unready, naming the stream, how many messages
are missing and what to run, with the count in /metrics; the relay publishes on meanwhile. A run
whose relay crashed between PubAck and record, or whose stream holds a message twice, is never
flagged."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest
from nats.js.api import StorageType, StreamConfig

from libs.platform.messaging.stream_gaps import missing_messages
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_attack_relay_kept_rounds import _operator
from tests.fault.test_pipeline_faults import _consult, relay_killed_after_publish
from tests.fault.test_readiness import _ready, _unready_because
from tests.harness import eventually, log_positions, stream_messages

pytestmark = pytest.mark.fault
GAUGE = 'tsunagu_loop_missing_messages{kind="relay",name="INTAKE",service="intake",stream="INTAKE"}'


def _gauge(intake) -> float | None:
    with intake.operator() as operator:
        for line in operator.get("/metrics").text.splitlines():
            if line.startswith(GAUGE + " "):
                return float(line.split()[-1])
    return None


def _checked_again(relay) -> None:
    """Wait until the relay has asked the stream for holes after now."""
    since = time.monotonic()
    eventually(lambda: (relay._gaps_at or 0) > since, timeout=30)


@pytest.mark.parametrize("what", ["delete the last", "delete a middle", "purge"])
def test_a_stream_that_lost_messages_makes_the_relay_unready_naming_it_and_the_relay_publishes_on(
        nats_server, start_service, what):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay.gap_seconds = 0.5
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 4)
    eventually(lambda: relay.lag() == 0)
    _ready(intake, "relay_lag")
    assert _gauge(intake) == 0
    held = len(stream_messages(nats_server.url, "INTAKE"))
    asyncio.run(_operator(nats_server.url, what))
    lost = held if what == "purge" else 1
    noun = "messages" if lost > 1 else "message"
    body = _unready_because(intake, "relay INTAKE", f"stream INTAKE is missing {lost} {noun}",
                            "tsunagu audit verify --nats")
    assert next(loop for loop in body["checks"]["loops"] if loop["kind"] == "relay")["missing"] == lost
    assert eventually(lambda: _gauge(intake) == lost)
    # The pipeline goes on: what comes after the hole is published, and the hole stays flagged.
    _consult(intake, centre_id, case_id, 2)
    eventually(lambda: relay.lag() == 0)
    on_stream = stream_messages(nats_server.url, "INTAKE")
    assert len(on_stream) == held - lost + 2
    _checked_again(relay)
    _unready_because(intake, f"stream INTAKE is missing {lost} {noun}")
    # A new relay (a restart) compares with the stream and says the same at once.
    intake.stop()
    intake.start()
    _unready_because(intake, f"stream INTAKE is missing {lost} {noun}")
    assert eventually(lambda: _gauge(intake) == lost)


def test_a_relay_restarted_after_the_stream_lost_its_tail_names_the_loss_while_the_window_refuses_it_again(
        nats_server, start_service):
    """The comparison at start sends the lost tail again, but the server still holds its
    Nats-Msg-Id (the duplicate window, 600 s) and refuses the batch (10201) round after round:
    /readyz names the missing message first, not only the failures (as on main)."""
    intake = start_service("intake", nats_server.url, max_loop_failures=3)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: relay.lag() == 0)
    asyncio.run(_operator(nats_server.url, "delete the last"))
    intake.stop()
    intake.start()
    _consult(intake, centre_id, case_id, 1)
    _unready_because(intake, "relay INTAKE", "stream INTAKE is missing 1 message", "tsunagu audit verify --nats")
    relay = intake.runtime.relay
    eventually(lambda: relay.health.failures >= 3)
    _checked_again(relay)
    _unready_because(intake, "stream INTAKE is missing 1 message")
    assert _gauge(intake) == 1


def test_a_relay_that_crashed_between_pubacks_and_records_and_a_nats_restart_are_no_false_alarm(
        nats_server, start_service):
    """The relay's re-sends after a crash are refused or dropped as duplicates, never stored
    beside a hole: no sequence of the stream is empty, and nothing is flagged."""
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay.gap_seconds = 0.2
    crashes = relay_killed_after_publish(relay, times=2)
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: len(crashes) == 2 and relay.lag() == 0)
    intake.stop()  # the process dies: the new relay compares with the stream
    nats_server.stop()
    nats_server.start()
    intake.start()
    relay = intake.runtime.relay
    relay.gap_seconds = 0.2
    _consult(intake, centre_id, case_id, 2)
    eventually(lambda: relay.lag() == 0, timeout=30)
    _checked_again(relay)
    assert relay.health.missing == 0
    _ready(intake, "relay_lag")
    assert _gauge(intake) == 0
    assert len(stream_messages(nats_server.url, "INTAKE")) == len(log_positions(intake))


def test_a_message_stored_twice_outside_the_duplicate_window_is_not_counted_as_missing_but_a_deleted_one_is(
        nats_server):
    async def run() -> list[int]:
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="TWICE", subjects=["twice.>"], storage=StorageType.FILE,
                                             duplicate_window=0.5))
            counts = []
            for k in range(3):
                await js.publish(f"twice.{k}", b"x", headers={"Nats-Msg-Id": f"e{k}"})
            await asyncio.sleep(1.0)  # past the window: the same id is stored again
            ack = await js.publish("twice.2", b"x", headers={"Nats-Msg-Id": "e2"})
            assert ack.seq == 4 and not ack.duplicate
            counts.append(missing_messages((await js.stream_info("TWICE")).state))
            await js.delete_msg("TWICE", 2)
            counts.append(missing_messages((await js.stream_info("TWICE")).state))
            counts.append(missing_messages((await js.stream_info("TWICE")).state, acknowledged=6))
            return counts
        finally:
            await nc.close()

    assert asyncio.run(run()) == [0, 1, 3]
