"""Attack (h-order): nats-server killed (SIGKILL or SIGTERM) while ONE large batch is in the client.
What nats-py had already written to the socket is lost with the server, what it still held in its
pending buffer is sent after the reconnect: the later messages of the batch reached the stream and
the relay's re-send of the earlier ones landed after them (the stream out of log order, reporting
dead-lettering them). Every relay publish carries `Nats-Expected-Last-Sequence` (the stream
sequence of the message before it): the server refuses a message that finds the stream ending
anywhere else, so nothing overtakes (messaging/relay_order.py; R3: test_relay_order_cluster.py)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from libs.platform.messaging.cloudevents import Envelope
from tests.e2e.test_consultation_import import _item, _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_attack_relay_kills import _runs
from tests.fault.test_pipeline_faults import _consult, _fy2016_total
from tests.fault.test_relay_in_flight import _gated, _on_each_relay_message
from tests.harness import assert_stream_is_the_log_once, eventually, log_positions, provision_streams, stream_messages

pytestmark = pytest.mark.fault
WHEN = "2016-05-01T10:00:00+09:00"
IMPORTS, ITEMS = 3, 500


def _backlog(intake) -> threading.Event:
    """1,500 imported consultations (rendered and signed by the relay), each a few KiB on the wire:
    a batch of 500 is more than nats-py writes to its socket at once."""
    centre_id, case_a = _setup_case(intake)
    case_b = _second_case(intake, centre_id)
    eventually(lambda: intake.runtime.relay.lag() == 0)
    gate = _gated(intake.runtime.relay)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for batch in range(IMPORTS):
            items = [_item(case_a if n % 2 else case_b, WHEN, f"順序 {batch}.{n} " + "あ" * 250)
                     for n in range(ITEMS)]
            r = staff.post("/v1/consultation-imports", json={"consultations": items},
                           headers={"Idempotency-Key": f"order {batch}"})
            assert r.status_code == 201, r.text
    return gate


def _kill_inside_batches(relay, kill: Callable[[], object], at: tuple[int, ...]) -> list[threading.Event]:
    """kill() the relay's server once at each of these publish counts (inside a batch of 500), as when
    the publishing loop yields mid-batch (a batch over nats-py's 2 MiB pending size flushes and waits)."""
    import asyncio

    kills = [threading.Event() for _ in at]

    async def publishing(count: int) -> None:
        if count in at and not kills[at.index(count)].is_set():
            kill()
            # The client's flusher writes what it holds to the dead socket (lost), the client sees the
            # connection go, and the rest of the batch waits in its buffer for the next server.
            deadline = time.monotonic() + 5
            while relay.bus.connected and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            kills[at.index(count)].set()

    _on_each_relay_message(relay, publishing)
    return kills


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_nats_killed_inside_one_large_batch_again_and_again_keeps_the_stream_in_log_order(
        nats_server, start_service, how):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay.batch_size, relay.ack_timeout = 500, 2.0
    gate = _backlog(intake)
    kills = _kill_inside_batches(relay, lambda: os.kill(nats_server.proc.pid, how), (200, 900, 1500))
    gate.set()
    for killed in kills:
        eventually(lambda killed=killed: killed.is_set() or relay.lag() == 0, timeout=60)
        if not killed.is_set():
            assert killed is not kills[0], "caught up before the first kill"
            break  # caught up before this publish count: nothing more to kill
        nats_server.proc.wait()
        nats_server.proc = None
        time.sleep(0.3)
        nats_server.start()
    eventually(lambda: relay.lag() == 0, timeout=90)
    stream = [Envelope.from_json(m.data).sequence for m in stream_messages(nats_server.url, "INTAKE")]
    log = log_positions(intake)
    assert stream == log, f"stream order {_runs(stream)} vs log {_runs(log)}"
    assert_stream_is_the_log_once(intake, nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    eventually(lambda: _fy2016_total(reporting) == IMPORTS * ITEMS, timeout=60)
    with reporting.operator() as operator:
        checks = operator.get("/readyz").json().get("checks", {})
    assert checks.get("dead_lettered", 0) == 0


def _on_stream(nats_url: str, go) -> Any:
    """Run `go(js)` on a connection of the test's own (what someone beside the relay does)."""
    import asyncio

    import nats

    async def run() -> Any:
        nc = await nats.connect(nats_url)
        try:
            return await go(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(run())


def _window(nats_url: str, seconds: int) -> None:
    """INTAKE made with a duplicate window of `seconds` (600 in service), before intake starts: its
    relay keeps the stream it finds. Not changed later: nats-server 2.15.1 arms its purge of the ids
    in the window at once when the window changes, before it takes the new window, and a purge that
    runs first reads the old one and keeps every id for 600 s (3 in 300 trials; CI saw a relay's
    re-send refused as a duplicate for 30 s and more, with a window set to 1 s)."""
    provision_streams(nats_url, "intake", duplicate_window=seconds)


def _foreign(nats_url: str, count: int) -> list[int]:
    """`count` messages without a Nats-Msg-Id put on INTAKE (a consumer dead-letters them): the
    server's last msg id is then empty; returns their stream sequences."""
    async def go(js) -> list[int]:
        return [(await js.publish("intake.130001.probe.Probe", b"not a relay's")).seq for _ in range(count)]

    return _on_stream(nats_url, go)


def _delete(nats_url: str, seqs: list[int]) -> None:
    async def go(js) -> None:
        for seq in seqs:
            await js.delete_msg("INTAKE", seq)

    _on_stream(nats_url, go)


def _refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused by the stream" in r.getMessage()]


def _not_following(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "does not follow the stream's last event" in r.getMessage()]


def _relay_messages(nats_url: str) -> list[int]:
    """The log positions of the relay's messages on INTAKE, in stream order (others skipped)."""
    return [Envelope.from_json(m.data).sequence for m in stream_messages(nats_url, "INTAKE")
            if (m.headers or {}).get("Nats-Msg-Id")]


def test_a_batch_that_does_not_follow_the_streams_last_event_is_not_sent_and_the_log_goes_in_order(
        nats_server, start_service, caplog):
    """A relay that would publish out of order (here: one read skips an event, as a bug would) sends
    nothing of that batch (it does not follow the stream's last event of this log); it compares again
    and sends from its record."""
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    read, skipped = relay._prepared, []

    def skipping(*args):
        position, chainhash = relay.position()
        envelopes, after_hash, _ = relay._pending_after(position, chainhash, 1)
        if args or skipped or not envelopes:
            return read(*args)
        skipped.append(envelopes[0].sequence)
        return read((envelopes[0].sequence, after_hash))  # the batch after the next event: it skips one

    relay._prepared = skipping
    gate = _gated(relay)  # its reads wait for the gate, then skip
    _consult(intake, centre_id, case_id, 5)
    gate.set()
    eventually(lambda: relay.lag() == 0, timeout=30)
    assert skipped and _not_following(caplog), "the skipping batch was not refused"
    assert _relay_messages(nats_server.url) == log_positions(intake)
    assert_stream_is_the_log_once(intake, nats_server.url)


def test_a_message_put_after_the_relays_last_event_and_deleted_again_is_followed_after_one_refusal(
        nats_server, start_service, caplog):
    """The stream's last sequence past its last message (a message without an id put after the
    relay's last event and deleted again): the relay's next publish expects the sequence it knew and
    is refused; the relay, finding its own event the stream's last message, follows the stream's
    last sequence and goes on."""
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    _delete(nats_server.url, _foreign(nats_server.url, 1))
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: relay.lag() == 0, timeout=30)
    assert _refusals(caplog), "the expected sequence was not refused first"
    assert_stream_is_the_log_once(intake, nats_server.url)
    _consult(intake, centre_id, case_id, 2)  # and then as usual
    eventually(lambda: relay.lag() == 0, timeout=30)
    assert_stream_is_the_log_once(intake, nats_server.url)


def test_a_restart_after_the_duplicate_window_keeps_the_relay_publishing_in_order(nats_server, start_service):
    """A stream whose duplicate window (1 s here, 600 s in service) passed since its last message, and
    a nats-server restart: the relay publishes on, in log order."""
    _window(nats_server.url, 1)
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)

    _consult(intake, centre_id, case_id, 2)
    eventually(lambda: relay.lag() == 0)
    time.sleep(2.5)  # the window passes (the state waited for is the clock's)
    os.kill(nats_server.proc.pid, signal.SIGKILL)
    nats_server.proc.wait()
    nats_server.proc = None
    nats_server.start()
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: relay.lag() == 0, timeout=30)
    assert_stream_is_the_log_once(intake, nats_server.url)


def test_a_relay_refused_again_and_again_is_unready_and_recovers_when_the_stream_is_repaired(
        nats_server, start_service, monkeypatch):
    """More foreign messages at the stream's end than the relay looks past: its publish is refused and
    its comparison with the stream fails round after round, /readyz names the relay and why (no
    silent spinning); once an operator deletes them, the relay goes on in order."""
    from libs.platform.messaging import relay_order
    from tests.fault.test_readiness import _ready, _unready_because

    monkeypatch.setattr(relay_order, "FOREIGN_DEPTH", 2)
    intake = start_service("intake", nats_server.url, stall_seconds=2)
    relay = intake.runtime.relay
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    foreign = _foreign(nats_server.url, 3)
    _consult(intake, centre_id, case_id, 2)
    _unready_because(intake, "relay INTAKE", "none of the stream's last 2 messages is an event of this log")
    assert relay.lag() > 0
    _delete(nats_server.url, foreign)
    eventually(lambda: relay.lag() == 0, timeout=30)
    _ready(intake, "relay_lag")
    assert_stream_is_the_log_once(intake, nats_server.url)
