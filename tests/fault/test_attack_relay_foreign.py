"""Attack (h-attack on merge-s27): what an integrator with publish rights on a service stream can do
to the relay's order header (messaging/relay_order.py) by mistake or on purpose.

- A copy of one of the relay's own earlier messages put back on the stream (a replay tool, a
  "re-publish" of a captured message) once the duplicate window has passed: the stream's last
  message is then a genuine event of this log, but an old one.
- A message shaped like a CloudEvent with a matching Nats-Msg-Id whose `sequence` is not a number.
- A message without a Nats-Msg-Id last on the stream, the window passed, nats-server restarted
  (held: the relay looks past it).
The first two BROKE on merge-s27, and the copy again while recent events are inside the window
(fixed at merge: a copy is known by the later event before it, a forged envelope by its position):
- the copy: the refusal makes the relay reconcile, it takes the copy's position for the stream's end
  ("recorded position 6, stream ends at 2: continuing from the stream") and sends the log again
  from there, every re-sent event stored a second time (outside the window): one replayed message
  re-publishes the whole log after it;
- the forged sequence: reconcile raises TypeError in `_holds` (str - int), StreamUnknown round
  after round: the relay is stuck until an operator deletes the message."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from libs.platform.messaging.cloudevents import Envelope
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _consult
from tests.fault.test_readiness import _ready
from tests.fault.test_relay_in_flight import _gated, _on_each_relay_message
from tests.fault.test_relay_order import _delete, _foreign, _on_stream, _window
from tests.harness import eventually, log_positions, stream_messages

pytestmark = pytest.mark.fault


def _put(nats_url: str, subject: str, body: bytes, headers: dict[str, str]) -> int:
    async def go(js) -> int:
        return (await js.publish(subject, body, headers=headers)).seq

    return _on_stream(nats_url, go)


def _relay_positions(nats_url: str, skip: set[int]) -> list[int]:
    """The log positions of the messages on INTAKE that carry a Nats-Msg-Id, in stream order,
    leaving out the stream sequences in `skip` (what the test itself put there)."""
    return [Envelope.from_json(m.data).sequence for m in stream_messages(nats_url, "INTAKE")
            if (m.headers or {}).get("Nats-Msg-Id") and m.metadata.sequence.stream not in skip]


def test_a_replayed_copy_of_an_old_relay_message_neither_stalls_nor_rewinds_the_relay(nats_server, start_service):
    _window(nats_server.url, 1)
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 4)
    eventually(lambda: relay.lag() == 0)
    time.sleep(2.5)  # the window passes (the state waited for is the clock's)
    old = stream_messages(nats_server.url, "INTAKE")[1]  # an early event of the log, as published
    headers = {k: v for k, v in (old.headers or {}).items() if k.startswith(("Nats-Msg-Id", "Tsunagu"))}
    copy = _put(nats_server.url, old.subject, old.data, headers)
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: relay.lag() == 0, timeout=30)
    # Every event once, in log order (the copy aside): the relay did not send the log again from
    # the copied event's position (outside the window, a re-send is stored again).
    assert _relay_positions(nats_server.url, {copy}) == log_positions(intake)


def test_a_forged_envelope_with_a_non_numeric_sequence_at_the_streams_end_does_not_stall_the_relay(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    real = Envelope.from_json(stream_messages(nats_server.url, "INTAKE")[-1].data)
    forged = {**json.loads(real.to_json()), "id": "forged-1", "sequence": "twelve"}
    seq = _put(nats_server.url, stream_messages(nats_server.url, "INTAKE")[-1].subject,
               json.dumps(forged).encode(), {"Nats-Msg-Id": "forged-1"})
    try:
        _consult(intake, centre_id, case_id, 2)
        eventually(lambda: relay.lag() == 0, timeout=20)
        assert _relay_positions(nats_server.url, {seq}) == log_positions(intake)
    finally:  # the teardown checks every message on the stream against the AsyncAPI document
        _on_stream(nats_server.url, lambda js: js.delete_msg("INTAKE", seq))


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_foreign_message_last_past_the_duplicate_window_and_a_restart_keep_the_relay_in_order(
        nats_server, start_service, how):
    """Held: a message without a Nats-Msg-Id at the stream's end (an integrator's probe), the window
    passed while the relay idled, nats-server restarted: the relay looks past the probe, sends its next
    event without the header, and every event lands once, in log order."""
    _window(nats_server.url, 1)
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: relay.lag() == 0)
    probe = _foreign(nats_server.url, 1)
    time.sleep(2.5)  # the window passes (the state waited for is the clock's)
    os.kill(nats_server.proc.pid, how)
    nats_server.proc.wait()
    nats_server.proc = None
    nats_server.start()
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: relay.lag() == 0, timeout=30)
    try:
        assert _relay_positions(nats_server.url, set(probe)) == log_positions(intake)
    finally:  # the teardown checks every message on the stream against the AsyncAPI document
        _delete(nats_server.url, probe)


def test_a_replayed_copy_while_recent_events_are_inside_the_window_does_not_loop(nats_server, start_service, caplog):
    """The copy of an old event (outside the window, so stored) while the latest events are still
    inside it (4 s here, 600 s in service): the relay's rewind re-sends the old ones (stored again) and
    the recent ones (dropped as duplicates, the stream's last id unchanged), so its next new event is
    refused again. Seen (4 s window): "stream ends at 9, PubAcks failed after 2: sending again from
    there" round after round for 30 s and more: the record stays at 2 (`_unconfirmed` is set again by
    every refused round), and once the re-sent events leave the window the first of them expects event
    2 last while the stream ends at 9: refused for good. Held would be: caught up, refused once at
    most."""
    _window(nats_server.url, 4)
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: relay.lag() == 0)

    time.sleep(4.5)  # the old events leave the window (the state waited for is the clock's)
    _consult(intake, centre_id, case_id, 3)  # recent: inside the window
    eventually(lambda: relay.lag() == 0)
    old = stream_messages(nats_server.url, "INTAKE")[1]
    headers = {k: v for k, v in (old.headers or {}).items() if k.startswith(("Nats-Msg-Id", "Tsunagu"))}
    copy = _put(nats_server.url, old.subject, old.data, headers)
    _consult(intake, centre_id, case_id, 1)
    eventually(lambda: relay.lag() == 0, timeout=30)
    refusals = [r.getMessage() for r in caplog.records if "refused by the stream" in r.getMessage()]
    assert len(refusals) <= 1, refusals
    assert copy


def _foreign_during_a_batch(intake) -> None:
    """Six events published as one batch, and a message of someone else's reaching the stream right
    before the batch's third."""
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    gate = _gated(relay)
    _consult(intake, centre_id, case_id, 6)

    async def publishing(count: int) -> None:
        if count == 3:  # on the relay's own connection: it reaches the stream right before the 3rd
            await relay.bus.client.publish("intake.130001.probe.Probe", b"not a relay's")

    _on_each_relay_message(relay, publishing)
    gate.set()
    eventually(lambda: relay.lag() == 0, timeout=30)


def test_a_foreign_message_published_in_the_middle_of_a_batch_loses_no_event(nats_server, start_service, caplog):
    """Held since the relay publishes each batch as one JetStream atomic batch (messaging/relay_order.py):
    the foreign message makes the whole batch refused (its first message's expected sequence is checked
    at the commit), the relay compares with the stream and sends the batch again after it. Before, the
    batch was pipelined message by message: the third was refused, the fourth (expecting the foreign
    message's place) stored, and the third event was missing from the stream for good."""
    intake = start_service("intake", nats_server.url)
    _foreign_during_a_batch(intake)
    assert _relay_positions(nats_server.url, set()) == log_positions(intake)
    assert any("refused by the stream" in r.getMessage() for r in caplog.records), "the batch was not refused"
    _ready(intake, "relay_lag")
