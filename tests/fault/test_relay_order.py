"""Attack (h-order): nats-server killed (SIGKILL or SIGTERM) while ONE large batch is in the client.
What nats-py had already written to the socket is lost with the server, what it still held in its
pending buffer is sent after the reconnect: the later messages of the batch reached the stream and
the relay's re-send of the earlier ones landed after them (the stream out of log order, reporting
dead-lettering them). Every relay publish now carries `Nats-Expected-Last-Msg-Id` (the id of the
event before it in the log): the server refuses a message whose predecessor is not the stream's
last, so nothing overtakes (messaging/relay_order.py)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from libs.platform.messaging.cloudevents import Envelope
from tests.e2e.test_consultation_import import _item, _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_attack_relay_kills import _runs
from tests.fault.test_relay_in_flight import _gated
from tests.harness import assert_stream_is_the_log_once, eventually, log_positions, stream_messages

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


def _kill_inside_batches(relay, nats_server, how: int, at: tuple[int, ...]) -> list[threading.Event]:
    """Kill the server once at each of these publish counts (inside a batch of 500), as when the
    publishing loop yields mid-batch (a batch over nats-py's 2 MiB pending size flushes and waits)."""
    import asyncio

    js = relay.bus.js
    publish, count = js.publish_async, [0]
    kills = [threading.Event() for _ in at]

    async def publishing(*args, **kwargs):
        count[0] += 1
        if count[0] in at and not kills[at.index(count[0])].is_set():
            os.kill(nats_server.proc.pid, how)
            # The client's flusher writes what it holds to the dead socket (lost), the client sees the
            # connection go, and the rest of the batch waits in its buffer for the next server.
            deadline = time.monotonic() + 5
            while relay.bus.connected and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            kills[at.index(count[0])].set()
        return await publish(*args, **kwargs)

    js.publish_async = publishing
    return kills


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_nats_killed_inside_one_large_batch_again_and_again_keeps_the_stream_in_log_order(
        nats_server, start_service, how):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    relay.batch_size, relay.ack_timeout = 500, 2.0
    gate = _backlog(intake)
    kills = _kill_inside_batches(relay, nats_server, how, (200, 900, 1500))
    gate.set()
    for killed in kills:
        eventually(lambda: killed.is_set() or relay.lag() == 0, timeout=60)
        if not killed.is_set():
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
    from tests.fault.test_pipeline_faults import _fy2016_total

    reporting = start_service("reporting", nats_server.url)
    eventually(lambda: _fy2016_total(reporting) == IMPORTS * ITEMS, timeout=60)
    with reporting.operator() as operator:
        checks = operator.get("/readyz").json().get("checks", {})
    assert checks.get("dead_lettered", 0) == 0
