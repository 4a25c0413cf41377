"""A backlog in flight (issue 15): while a backlog drains, the relay reads the next batch while the
PubAcks of one come back, publishes it once they are all in (before that one is recorded), and
records batches strictly in order, each once its own PubAcks came. A stall or failure of those
PubAcks leaves the position at the last batch fully acknowledged, makes the relay unready, and it
sends again from there: the stream is the log once, and the relay's chain (relay_chain) has every
published position, in order."""

from __future__ import annotations

import itertools
import os
import signal
import threading
from collections.abc import Awaitable, Callable

import pytest

from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _consult
from tests.fault.test_readiness import _ready, _unready_because
from tests.harness import assert_stream_is_the_log_once, eventually, log_positions

pytestmark = pytest.mark.fault


def _gated(relay) -> threading.Event:
    """Hold the relay's next read until the gate opens, so that it finds a backlog then. Returns once
    a round waits at the gate: a round already reading when the gate came (the relay polls every
    20 ms here) read on, and under load it read the first events written after: of six events, two
    were published before the gate opened and four in the batch."""
    gate, read, waiting = threading.Event(), relay._prepared, threading.Event()

    def held(*args):
        waiting.set()
        gate.wait(30)
        return read(*args)

    relay._prepared = held
    eventually(waiting.is_set)
    return gate


def _gated_backlog(intake) -> threading.Event:
    """The relay caught up, then held at its next read (`_gated`) in batches of three while nine
    consultations are recorded: 11 events, a backlog of three full batches once the gate opens."""
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    relay.batch_size = 3
    gate = _gated(relay)
    _consult(intake, centre_id, case_id, 9)
    return gate


def _on_each_relay_message(relay, before: Callable[[int], Awaitable[object]]) -> None:
    """await before(n) right before the relay's n-th message (n from 1) goes to the client: every
    message of its batches, the commit too (messaging/relay_order.py publish_atomic: the client's
    publish carries them all, a relay message known by its Nats-Msg-Id)."""
    client = relay.bus.client
    publish, count = client.publish, [0]

    async def publishing(subject, payload=b"", reply="", headers=None):
        if headers and "Nats-Msg-Id" in headers:
            count[0] += 1
            await before(count[0])
        return await publish(subject, payload, reply=reply, headers=headers)

    client.publish = publishing


def _watched(relay, held: threading.Event | None = None) -> tuple[list[int], list[int], list[bool]]:
    """The positions the relay records, in order; the position each batch it publishes was read
    after; and for each record, whether the batch after it was published already. `held`: the first
    record waits for it."""
    recorded: list[int] = []
    published_after: list[int] = []
    next_published: list[bool] = []
    record, send = relay._record, relay._send

    async def sending(batch):
        published_after.append(batch.after)
        return await send(batch)

    def recording(position, *args, **kwargs):
        recorded.append(position)
        next_published.append(position in published_after)
        if held is not None and len(recorded) == 1:
            held.wait(30)
        record(position, *args, **kwargs)

    relay._record, relay._send = recording, sending
    return recorded, published_after, next_published


def _chain_is_the_stream(intake, nats_url: str) -> None:
    """The stream is the log once, and there is a relay_chain row for each published position, with
    the chain hash the stream carries."""
    envelopes = assert_stream_is_the_log_once(intake, nats_url)
    assert len(envelopes) == 11
    relay = intake.runtime.relay
    rows = relay.published_rows(0, envelopes[-1].sequence)
    assert {p: r.chainhash for p, r in rows.items()} == {e.sequence: e.chainhash for e in envelopes}


def test_a_backlog_drains_with_each_batch_published_before_the_one_before_is_recorded(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    gate = _gated_backlog(intake)
    recorded, _, next_published = _watched(relay)
    gate.set()
    eventually(lambda: relay.lag() == 0)
    positions = log_positions(intake)
    assert recorded == positions[4::3]  # each batch once, in order
    # When each full batch was recorded the next one was already published (none after the last).
    assert next_published == [True, True, False]
    _chain_is_the_stream(intake, nats_server.url)


def test_pubacks_stalled_with_a_backlog_in_flight_make_the_relay_unready_and_it_sends_again_from_its_record(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url, stall_seconds=2)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    before = relay.position()[0]
    relay.batch_size, relay.ack_timeout = 3, 0.5  # PubAcks that do not come in 0.5 s failed
    gate = _gated(relay)
    _consult(intake, centre_id, case_id, 9)
    sent: list[int] = []
    send = relay._send

    async def sending(batch):
        sent.append(batch.after)
        return await send(batch)

    relay._send = sending
    assert nats_server.proc is not None
    os.kill(nats_server.proc.pid, signal.SIGSTOP)  # the server takes the messages in and answers nothing
    try:
        gate.set()
        body = _unready_because(intake, "relay INTAKE", "has not shrunk")
        looped = next(loop for loop in body["checks"]["loops"] if loop["kind"] == "relay")
        assert looped["state"] == "stuck" and looped["lag"] == 9, looped
        # One batch published, not acknowledged; the one read after it waits for its PubAcks
        # (tests/fault/test_attack_relay_kills.py: published before, it could overtake it).
        assert sent and set(sent) == {before}, sent
        assert relay.position()[0] == before
        eventually(lambda: relay.health.failures >= 2)  # they failed, and asking the stream failed too
        with intake.operator() as operator:
            assert 'tsunagu_loop_stuck{kind="relay",name="INTAKE",service="intake",stream="INTAKE"} 1.0' in \
                operator.get("/metrics").text
    finally:
        os.kill(nats_server.proc.pid, signal.SIGCONT)
    _ready(intake, "relay_lag")
    # The server stored the batch once it woke; the relay did not take the stream's end for its
    # own (its PubAcks had failed): it sent it again, dropped as duplicates, and recorded each
    # position with its chain row.
    _chain_is_the_stream(intake, nats_server.url)


def test_a_backlogs_batch_is_recorded_while_the_relay_publishes_the_batches_after_it(nats_server, start_service):
    """The record of a backlog's batch runs behind the loop (issue 15: awaited, records were a third
    of a backlog's wall time on PostgreSQL): while the first batch's record is held, the next batch's
    PubAck is taken and the one after it published; records still come once each, in order."""
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    gate, held = _gated_backlog(intake), threading.Event()
    recorded, published_after, _ = _watched(relay, held)
    gate.set()
    positions = log_positions(intake)
    try:
        eventually(lambda: positions[7] in published_after)  # the third batch out, the first's record held
        assert recorded == [positions[4]]
    finally:
        held.set()
    eventually(lambda: relay.lag() == 0)
    assert recorded == positions[4::3]
    _chain_is_the_stream(intake, nats_server.url)


def test_a_batchs_messages_go_to_the_server_while_the_rest_of_it_is_published(
        nats_server, start_service, monkeypatch):
    """The client writes to its socket only when the loop yields: a batch went out whole once every
    message was encoded, and the server staged none of it before (issue 15). Every FLUSH_EVERY
    messages the relay yields, so what the client holds drops within a batch."""
    from libs.platform.messaging import relay_order

    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    relay.batch_size = 5
    monkeypatch.setattr(relay_order, "FLUSH_EVERY", 2)
    gate, held = _gated(relay), []
    _consult(intake, centre_id, case_id, 9)  # 11 events: a backlog, its first batch of five

    async def before(n: int) -> None:
        held.append(relay.bus.client.pending_data_size)

    _on_each_relay_message(relay, before)
    gate.set()
    eventually(lambda: relay.lag() == 0)
    first = held[:5]
    assert any(later < earlier for earlier, later in itertools.pairwise(first)), held
    _chain_is_the_stream(intake, nats_server.url)
