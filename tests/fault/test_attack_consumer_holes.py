"""Attack (h-attack7): events gone from a stream before a consumer of another service read them.
The producer's relay flags the hole in its own /readyz (messaging/stream_gaps.py), but the consumer
skipped those events for good: its read model lacks them while its own /readyz said ready, lag 0,
and nothing in its service told an operator that a rebuild is owed (its position moves past the
hole, so a restart does not see it again).

Here reporting is stopped, four consultations are recorded and published, and an operator deletes
(as `nats stream rmm` does) the first of them, right after reporting's position, and the third, in
the middle of what reporting then fetches. Started again, reporting applies the other two, and each
hole that held events of intake's log is an open dead letter (kept in its database, so a restart
does not forget it): reporting is unready naming it until an operator resolves it. No false alarm
for a tail the stream lost and the relay sent again after the hole (it chains from the event before)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import nats
import pytest

from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _consult, _fy2016_total
from tests.fault.test_readiness import _unready_because
from tests.harness import drained, eventually, published

pytestmark = pytest.mark.fault


def _delete(nats_url: str, stream: str, *seqs: int) -> None:
    async def delete() -> None:
        nc = await nats.connect(nats_url)
        try:
            for seq in seqs:
                await nc.jetstream().delete_msg(stream, seq)
        finally:
            await nc.close()

    asyncio.run(delete())


def test_events_deleted_from_the_stream_before_a_consumer_read_them_are_open_dead_letters(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 2)
    before = drained(nats_server.url, intake, reporting)[-1].metadata.sequence.stream
    assert _fy2016_total(reporting) == 2
    reporting.stop()
    _consult(intake, centre_id, case_id, 4)
    last = published(intake, nats_server.url)[-1].metadata.sequence.stream
    assert last == before + 4
    _delete(nats_server.url, "INTAKE", before + 1, before + 3)
    reporting.start()
    runner = next(c for c in reporting.runtime.consumers if c.spec.name == "INTAKE")
    eventually(lambda: runner.position() == last)
    assert eventually(lambda: _fy2016_total(reporting) == 4)  # the two left, once each
    body = _unready_because(reporting, "2 open dead letter")
    assert body["checks"]["dead_lettered"] == 2
    with reporting.operator() as operator:
        letters = operator.get("/v1/ops/dead-letters").json()["data"]
        assert [(d["consumer"], d["position"]) for d in letters] == [
            (runner.durable, before + 1), (runner.durable, before + 3)], letters
        assert all("missing" in d["reason"] for d in letters), letters
        for d in letters:
            r = operator.post(f"/v1/ops/dead-letters/{d['consumer']}/INTAKE/{d['position']}/resolution")
            assert r.status_code == 200, r.text
        assert "dead letter" not in operator.get("/readyz").json().get("detail", ""), "resolved"


def test_nats_killed_while_a_consumer_applies_a_batch_counts_failures_and_nothing_is_applied_twice(
        nats_server, start_service):
    """Held: the consumer's round after its apply meets the dead server and counts it (the failure
    in /metrics, 'retrying' in /readyz); started again, the rest is applied once each."""
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    runner = next(c for c in reporting.runtime.consumers if c.spec.name == "INTAKE")
    centre_id, case_id = _setup_case(intake)
    drained(nats_server.url, intake, reporting)
    gate, holding = threading.Event(), threading.Event()
    apply_batch, apply = runner.handler.apply_batch, runner.handler.apply

    def held(f):
        def hold(*args):
            holding.set()
            gate.wait(30)
            return f(*args)
        return hold

    runner.handler.apply_batch, runner.handler.apply = held(apply_batch), held(apply)
    failed_before = runner.health.failures_total
    _consult(intake, centre_id, case_id, 6)
    eventually(lambda: intake.runtime.relay.lag() == 0)
    assert holding.wait(15)
    assert nats_server.proc is not None
    os.kill(nats_server.proc.pid, signal.SIGKILL)
    nats_server.proc.wait()
    nats_server.proc = None
    gate.set()
    eventually(lambda: runner.health.failures_total > failed_before, timeout=30)
    with reporting.operator() as operator:
        body = eventually(lambda: (r := operator.get("/readyz")).status_code == 503 and r.json())
        looped = next(loop for loop in body["checks"]["loops"] if loop.get("name") == runner.durable)
        assert looped["state"] in ("retrying", "stuck") and looped["consecutive_failures"] >= 1, looped
        assert "NATS unreachable" in body["detail"], body
        metric = f'tsunagu_loop_failures_total{{kind="consumer",name="{runner.durable}"'
        assert any(line.startswith(metric) and float(line.rsplit(" ", 1)[1]) >= 1
                   for line in operator.get("/metrics").text.splitlines()), "failures not in /metrics"
    nats_server.start()
    drained(nats_server.url, intake, reporting, timeout=30)
    assert _fy2016_total(reporting) == 6


def test_a_tail_the_stream_lost_and_the_relay_sent_again_is_no_dead_letter_for_a_consumer_behind_it(
        nats_server, start_service):
    """No false alarm: the stream lost its last three messages (a power failure before fsync) and the
    relay sent them again after the hole; a consumer that had not read them is handed the copies
    across the hole, which chain from the event before it (stream_gaps.lost_before): applied once
    each, no dead letter."""
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 2)
    before = drained(nats_server.url, intake, reporting)[-1].metadata.sequence.stream
    reporting.stop()
    _consult(intake, centre_id, case_id, 3)
    published(intake, nats_server.url)
    intake.stop()
    _delete(nats_server.url, "INTAKE", before + 1, before + 2, before + 3)
    nats_server.stop()
    nats_server.start()
    intake.start()
    sent_again = eventually(lambda: len(m := published(intake, nats_server.url)) == before + 3 and m)
    assert sent_again[-3].metadata.sequence.stream > before + 3  # after the hole
    reporting.start()
    runner = next(c for c in reporting.runtime.consumers if c.spec.name == "INTAKE")
    eventually(lambda: runner.position() == sent_again[-1].metadata.sequence.stream)
    assert _fy2016_total(reporting) == 5
    assert runner.dead_lettered == 0 and reporting.runtime.open_dead_letters() == 0
