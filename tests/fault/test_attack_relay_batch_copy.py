"""Attack (h-attack2 on merge-s29): someone who can subscribe to and publish on a service's subjects
(an operator's `nats sub 'intake.>'` and a replay of what it captured; deploy/nats/accounts.conf
grants both to no service) sees the messages of the relay's atomic batch while the server stages
them, before the commit stores them, and publishes a copy of one of them as a plain message.

The copy is a genuine event of this log (its id, position, chain hash and signature are the
relay's), stored at the stream's end ahead of the events before it; the batch is then refused (its
first message expected the stream's old end). BROKE on merge-s29: the relay's comparison took the
copy for its last event on the stream ("recorded position 2, stream ends at 6: continuing from the
stream") and never sent the events before it: the stream lacked them for good. An event proves
the ones before it only where it follows its predecessor of this log on the stream
(messaging/relay_order.py _last_in_place).

The same someone commits the relay's batch himself, its 4th message an altered copy of the relay's
(data changed; id, position, chain hash and headers kept): BROKE on merge-s29, the stream's end
taken for event 6 (an event is known by its id and position), the genuine event 6 never sent,
consumers dead-lettering the altered one (its signature fails) for good. An event now proves
something only as published: its fact the log's event rendered at the version it carries, its
chain hash following its predecessor's (_proves).

Held: a message of someone else's carrying the relay's batch id and the sequence number of the
relay's next message, ahead of it (the server abandons the batch: its commit is refused as
incomplete, 10176, and the relay sends it again)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.relay_order import BATCH_COMMIT, BATCH_ID, BATCH_SEQUENCE
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_attack_relay_foreign import _relay_positions
from tests.fault.test_pipeline_faults import _consult
from tests.fault.test_readiness import _ready
from tests.fault.test_relay_in_flight import _gated
from tests.fault.test_relay_order import _delete, _window
from tests.harness import eventually, log_positions, stream_messages

pytestmark = pytest.mark.fault


def _copy_ahead_of_its_batch(relay, copied: int, foreign_between: bool,
                             altered: Callable[[bytes], bytes] = lambda body: body) -> list[int]:
    """Before the commit of the relay's next batch of more than `copied` messages, a plain copy of its
    `copied`-th message (its own headers, not the batch's; its body `altered`) goes ahead of it; with
    `foreign_between`, a message of someone else's follows the copy. Returns how many copies were put."""
    client = relay.bus.client
    publish, batch, put = client.publish, list[tuple[str, bytes, dict[str, str]]](), [0]

    async def publishing(subject, payload=b"", reply="", headers=None):
        if headers and BATCH_ID in headers and not put[0]:
            batch.append((subject, payload, headers))
            if "Nats-Batch-Commit" in headers and len(batch) > copied:
                subject_k, body, own = batch[copied - 1]
                plain = {k: v for k, v in own.items() if not k.startswith("Nats-Batch") and "Expected" not in k}
                await publish(subject_k, altered(body), headers=plain)
                if foreign_between:
                    await publish("intake.130001.probe.Probe", b"not a relay's")
                put[0] += 1
        return await publish(subject, payload, reply=reply, headers=headers)

    client.publish = publishing
    return put


def _batch_attacked(start_service, nats_url: str, attack, events: int = 6):
    """Intake (returned) with `events` events published as one batch, `attack(relay)` set on it (it
    returns how many it put), and the relay caught up after. The duplicate window is 1 s: a copy's id
    is the stream's for it (600 s in service), and until it passes the batch holding that event again
    is refused (10201), the relay unready with the reason."""
    _window(nats_url, 1)
    intake = start_service("intake", nats_url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    gate = _gated(relay)
    _consult(intake, centre_id, case_id, events)  # one batch waits
    put = attack(relay)
    gate.set()
    eventually(lambda: put[0] == 1 and relay.lag() == 0, timeout=30)
    return intake


@pytest.mark.parametrize("foreign_between", [False, True])
def test_a_copy_of_a_staged_batch_message_put_ahead_of_its_commit_loses_no_event(
        nats_server, start_service, foreign_between):
    intake = _batch_attacked(start_service, nats_server.url,
                             lambda relay: _copy_ahead_of_its_batch(relay, 4, foreign_between))
    messages = stream_messages(nats_server.url, "INTAKE")
    probes = {m.metadata.sequence.stream for m in messages if not (m.headers or {}).get("Nats-Msg-Id")}
    log = log_positions(intake)
    stream = _relay_positions(nats_server.url, probes)
    # The copy stays where it was put (a consumer drops it as a repeat); every event is on the
    # stream, in log order, after it.
    assert sorted(set(stream)) == log, f"events missing from the stream: {sorted(set(log) - set(stream))}"
    copy_at = next(k for k, p in enumerate(stream) if stream.count(p) > 1)
    assert stream[:copy_at] + stream[copy_at + 1:] == log, stream
    try:
        _ready(intake, "relay_lag")
    finally:  # the teardown checks every message on the stream against the AsyncAPI document
        _delete(nats_server.url, sorted(probes))


def _altered(payload: bytes) -> bytes:
    """An event's body with the last character of a string of its data changed."""
    body = json.loads(payload)
    key = next(k for k, v in body["data"].items() if isinstance(v, str) and k != "case_id")
    body["data"][key] = body["data"][key][:-1] + ("X" if body["data"][key][-1:] != "X" else "Y")
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize("altered", [False, True])
def test_a_copy_of_the_first_event_put_first_on_the_stream_ahead_of_the_relays_first_batch_loses_no_event(
        nats_server, start_service, altered):
    """The stream's very first message is a copy of the log's first event, put there before the
    relay's first batch commits (that batch refused: it expected an empty stream). An exact copy
    is event 1 as published: it follows GENESIS, and the relay goes on from event 2. An altered copy
    proves nothing: the relay sends event 1 again (refused as a duplicate of the copy's id until the
    window passes) and every event follows the copy, in log order."""
    _window(nats_server.url, 1)
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    gate = _gated(relay)
    put = _copy_ahead_of_its_batch(relay, 1, False, _altered if altered else lambda body: body)
    _setup_case(intake)  # the log's first events, one batch
    gate.set()
    eventually(lambda: put[0] == 1 and relay.lag() == 0, timeout=30)
    published = {e.sequence: e for e in relay.reader.read(0, 100)}
    messages = stream_messages(nats_server.url, "INTAKE")
    copies = [m.metadata.sequence.stream for m in messages
              if Envelope.from_json(m.data).data != published[Envelope.from_json(m.data).sequence].data]
    try:
        assert messages[0].metadata.sequence.stream == 1 and Envelope.from_json(messages[0].data).sequence == 1
        assert copies == ([1] if altered else [])
        genuine = [Envelope.from_json(m.data).sequence for m in messages if m.metadata.sequence.stream not in copies]
        assert genuine == log_positions(intake)
        _ready(intake, "relay_lag")
    finally:  # the teardown checks every message's signature
        _delete(nats_server.url, copies)


def _commit_forged(relay, at: int) -> list[int]:
    """Before the relay's `at`-th message of its next batch, someone who saw the batch's messages
    commits the batch himself with his own `at`-th message: the relay's, its data altered (its
    id, position, chain hash and headers kept). Returns how many were put."""
    client = relay.bus.client
    publish, put = client.publish, [0]

    async def publishing(subject, payload=b"", reply="", headers=None):
        if headers and headers.get(BATCH_SEQUENCE) == str(at) and not put[0]:
            await publish(subject, _altered(payload), headers={**headers, BATCH_COMMIT: "1"})
            put[0] += 1
        return await publish(subject, payload, reply=reply, headers=headers)

    client.publish = publishing
    return put


@pytest.mark.parametrize("events", [6, 4], ids=["inside", "last"])
def test_a_batch_committed_by_someone_else_with_an_altered_message_does_not_replace_the_event(
        nats_server, start_service, events):
    """`last`: the altered message is the batch's last, event n. The relay sends it again alone, a
    plain publish expecting the stream's end, where the copy is: JetStream acks it as a duplicate of
    the copy's id (a batch's duplicate is refused, 10201). BROKE on merge-s34 (seen when a relay's
    round read two of six events before the gate): the relay took that PubAck for event n stored,
    recorded it, and said lag 0 while the stream held only the altered copy (dead-lettered by every
    consumer) until the next event was saved."""
    intake = _batch_attacked(start_service, nats_server.url, lambda relay: _commit_forged(relay, 4), events)
    relay = intake.runtime.relay
    published = {e.sequence: e for e in relay.reader.read(0, 100)}
    messages = stream_messages(nats_server.url, "INTAKE")
    altered = [m.metadata.sequence.stream for m in messages
               if Envelope.from_json(m.data).data != published[Envelope.from_json(m.data).sequence].data]
    try:
        genuine = [Envelope.from_json(m.data).sequence for m in messages if m.metadata.sequence.stream not in altered]
        assert genuine == log_positions(intake)
    finally:  # the teardown checks every message's signature
        _delete(nats_server.url, altered)


def _foreign_in_the_batch(relay, at: int) -> list[int]:
    """Right before the relay's `at`-th message of its next batch, a message of someone else's with
    that batch's id and sequence number `at` (its other headers none)."""
    client = relay.bus.client
    publish, put = client.publish, [0]

    async def publishing(subject, payload=b"", reply="", headers=None):
        if headers and headers.get(BATCH_SEQUENCE) == str(at) and not put[0]:
            await publish("intake.130001.probe.Probe", b"not a relay's",
                          headers={BATCH_ID: headers[BATCH_ID], BATCH_SEQUENCE: str(at)})
            put[0] += 1
        return await publish(subject, payload, reply=reply, headers=headers)

    client.publish = publishing
    return put


def test_a_foreign_message_taking_a_place_in_the_relays_batch_loses_no_event(nats_server, start_service):
    intake = _batch_attacked(start_service, nats_server.url, lambda relay: _foreign_in_the_batch(relay, 4))
    messages = stream_messages(nats_server.url, "INTAKE")
    probes = [m.metadata.sequence.stream for m in messages if not (m.headers or {}).get("Nats-Msg-Id")]
    try:
        assert _relay_positions(nats_server.url, set(probes)) == log_positions(intake)
    finally:
        _delete(nats_server.url, probes)
