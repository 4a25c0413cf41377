"""Attack (merge-s26): nats-server killed (SIGKILL, so what sat in its socket is lost) and
restarted again and again while the relay drains a backlog of bulk imports (messages no save
prepared: rendered and signed by the relay), a batch in flight and the next read ahead. The
merge's first relay published the batch read ahead before the PubAcks of the one before were in:
killed between the two, the first was lost with the socket while the second, held in the client's
reconnect buffer, reached the restarted server first, and the stream was out of log order
(`test_nats_killed_between_the_two_batches_in_flight`; consumers dead-lettered the late events). The stream must be the
log once, in order, chained and signed; readiness must go unready while the server is away and
come back."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from libs.platform.messaging.cloudevents import Envelope
from tests.e2e.test_consultation_import import _item, _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_relay_in_flight import _gated
from tests.harness import assert_stream_is_the_log_once, eventually, log_positions, stream_messages

pytestmark = pytest.mark.fault
WHEN = "2016-05-01T10:00:00+09:00"


def _kill_and_restart(nats_server, times: int, pause: float) -> None:
    for _ in range(times):
        time.sleep(pause)
        assert nats_server.proc is not None
        os.kill(nats_server.proc.pid, signal.SIGKILL)
        nats_server.proc.wait()
        nats_server.proc = None
        time.sleep(0.3)
        nats_server.start()


def _killed_with_two_batches_in_flight(nats_server, intake, words: str, key: str) -> None:
    """450 imported consultations drained in batches of 40; nats-server SIGKILLed once the second
    batch is out and the first not recorded, then started again."""
    relay = intake.runtime.relay
    centre_id, case_a = _setup_case(intake)
    case_b = _second_case(intake, centre_id)
    eventually(lambda: relay.lag() == 0)
    relay.batch_size, relay.ack_timeout = 40, 1.0
    gate = _gated(relay)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for batch in range(3):
            items = [_item(case_a if n % 2 else case_b, WHEN, f"{words} {batch}.{n} " + "あ" * 200) for n in range(150)]
            r = staff.post("/v1/consultation-imports", json={"consultations": items},
                           headers={"Idempotency-Key": f"{key} {batch}"})
            assert r.status_code == 201, r.text
    sent: list[int] = []
    send, fired = relay._send, threading.Event()

    async def sending(batch):
        flight = await send(batch)
        sent.append(batch.after)
        if len(sent) == 2 and not fired.is_set():  # the second batch is out, the first not recorded
            fired.set()
            os.kill(nats_server.proc.pid, signal.SIGKILL)
        return flight

    relay._send = sending
    gate.set()
    eventually(fired.is_set)
    nats_server.proc.wait()
    nats_server.proc = None
    time.sleep(0.5)
    nats_server.start()


@pytest.mark.parametrize("kills", [1, 4])
def test_imports_drained_through_killed_nats_with_two_batches_in_flight(nats_server, start_service, kills):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    _killed_with_two_batches_in_flight(nats_server, intake, "攻撃", "kill")
    killer = threading.Thread(target=_kill_and_restart, args=(nats_server, kills - 1, 0.2))
    killer.start()
    killer.join()
    eventually(lambda: relay.lag() == 0, timeout=60)
    envelopes = assert_stream_is_the_log_once(intake, nats_server.url)
    assert len(envelopes) == len(log_positions(intake))
    # signatures: conftest's teardown checks every message with this test's public keys
    rows = relay.published_rows(0, envelopes[-1].sequence)
    assert {p: r.chainhash for p, r in rows.items()} == {e.sequence: e.chainhash for e in envelopes}


def test_imports_stuck_behind_a_stopped_nats_make_the_relay_unready_and_drain_after(nats_server, start_service):
    """SIGSTOP while two batches of relay-rendered import messages are in flight (their chain rows are
    recorded statement by statement): unready naming the relay, then ready and the stream the log once."""
    from tests.fault.test_readiness import _ready, _unready_because

    intake = start_service("intake", nats_server.url, stall_seconds=2)
    relay = intake.runtime.relay
    centre_id, case_a = _setup_case(intake)
    case_b = _second_case(intake, centre_id)
    eventually(lambda: relay.lag() == 0)
    relay.batch_size, relay.ack_timeout = 25, 0.5
    gate = _gated(relay)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        items = [_item(case_a if n % 2 else case_b, WHEN, f"停止 {n}") for n in range(200)]
        r = staff.post("/v1/consultation-imports", json={"consultations": items}, headers={"Idempotency-Key": "stop"})
        assert r.status_code == 201, r.text
    sent: list[int] = []
    send, stopped = relay._send, threading.Event()

    async def sending(batch):
        flight = await send(batch)
        sent.append(batch.after)
        if len(sent) == 2 and not stopped.is_set():
            stopped.set()
            os.kill(nats_server.proc.pid, signal.SIGSTOP)
        return flight

    relay._send = sending
    gate.set()
    try:
        eventually(stopped.is_set)
        _unready_because(intake, "relay INTAKE")
        time.sleep(1.0)
    finally:
        os.kill(nats_server.proc.pid, signal.SIGCONT)
    eventually(lambda: relay.lag() == 0, timeout=60)
    _ready(intake, "relay_lag")
    envelopes = assert_stream_is_the_log_once(intake, nats_server.url)
    rows = relay.published_rows(0, envelopes[-1].sequence)
    assert {p: r.chainhash for p, r in rows.items()} == {e.sequence: e.chainhash for e in envelopes}


@pytest.mark.parametrize("delay", [0.0])  # 0.001/0.005: the client flushed first, it holds
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
@pytest.mark.parametrize("with_reporting", [False, True])
def test_nats_killed_between_the_two_batches_in_flight(nats_server, start_service, delay, with_reporting, how):
    """SIGKILL right after the first batch of a backlog is handed to the client, before the batch
    read ahead is published: what the client wrote to the dead socket is lost, what it buffers while
    reconnecting (the second batch) reaches the new server first. The stream must still be the log
    once, in log order."""
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    centre_id, case_a = _setup_case(intake)
    case_b = _second_case(intake, centre_id)
    eventually(lambda: relay.lag() == 0)
    relay.batch_size, relay.ack_timeout = 40, 2.0
    gate = _gated(relay)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        items = [_item(case_a if n % 2 else case_b, WHEN, f"間 {n}") for n in range(200)]
        r = staff.post("/v1/consultation-imports", json={"consultations": items}, headers={"Idempotency-Key": "gap"})
        assert r.status_code == 201, r.text
    sent: list[int] = []
    send, fired = relay._send, threading.Event()

    async def sending(batch):
        flight = await send(batch)
        sent.append(batch.after)
        if len(sent) == 1 and not fired.is_set():  # the first batch handed over; the next not yet
            fired.set()
            if delay:
                import asyncio
                await asyncio.sleep(delay)
            os.kill(nats_server.proc.pid, how)
        return flight

    relay._send = sending
    gate.set()
    eventually(fired.is_set)
    nats_server.proc.wait()
    nats_server.proc = None
    time.sleep(0.5)
    nats_server.start()
    eventually(lambda: relay.lag() == 0, timeout=60)
    if with_reporting:  # what a consumer makes of the stream: every consultation counted, nothing dead-lettered
        from tests.fault.test_pipeline_faults import _fy2016_total

        reporting = start_service("reporting", nats_server.url)
        try:
            eventually(lambda: _fy2016_total(reporting) == 200, timeout=20)
        finally:
            with reporting.operator() as operator:
                checks = operator.get("/readyz").json().get("checks", {})
            with reporting.client(role="operator", org="ops") as ops:
                letters = ops.get("/v1/ops/dead-letters").json().get("data", [])
            print("reporting total", _fy2016_total(reporting), "dead_lettered", checks.get("dead_lettered"),
                  letters[:1])
        assert checks.get("dead_lettered", 0) == 0
    stream = [Envelope.from_json(m.data).sequence for m in stream_messages(nats_server.url, "INTAKE")]
    log = log_positions(intake)
    assert stream == log, f"stream order {_runs(stream)} vs log {_runs(log)}"
    assert_stream_is_the_log_once(intake, nats_server.url)


def _runs(seqs: list[int]) -> list[str]:
    """Consecutive runs of a list of positions, e.g. ['1-3', '44-83', '4-43']."""
    runs: list[list[int]] = []
    for s in seqs:
        if runs and s == runs[-1][1] + 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return [f"{a}-{b}" for a, b in runs]
