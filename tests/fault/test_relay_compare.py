"""A relay never says "published" on its own word after a fault: when its PubAcks fail (a NATS
outage, a cluster's stream leader changing) the stream may have lost what it acknowledged before,
so the relay asks the stream where it ends before it publishes again, and /readyz shows it with its
lag, `retrying`, until the store and the stream agree (soak: "CLAIMED QUIET" after a leader kill)."""

from __future__ import annotations

import asyncio
import re

import nats
import pytest

from libs.platform.messaging.cloudevents import Envelope
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _consult
from tests.harness import eventually, log_positions, stream_messages

pytestmark = pytest.mark.fault


def _relay(intake) -> dict:
    with intake.operator() as operator:
        loops = operator.get("/readyz").json()["checks"]["loops"]
    return next(loop for loop in loops if loop["kind"] == "relay")


def _on_stream(nats_url: str) -> list[int]:
    return [Envelope.from_json(m.data).sequence for m in stream_messages(nats_url, "INTAKE")]


def test_a_relay_whose_pubacks_fail_while_the_stream_loses_its_tail_is_not_caught_up_until_they_agree(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url, max_loop_failures=3)
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, 3)
    eventually(lambda: intake.runtime.relay.lag() == 0)
    logged = log_positions(intake)
    assert _on_stream(nats_server.url) == logged

    tail = [m.metadata.sequence.stream for m in stream_messages(nats_server.url, "INTAKE")[-2:]]

    async def lose_the_tail() -> None:  # a new stream leader without the last acked messages
        nc = await nats.connect(nats_server.url)
        for seq in tail:
            await nc.jetstream().delete_msg("INTAKE", seq)
        await nc.close()

    asyncio.run(lose_the_tail())
    nats_server.stop()  # the PubAcks of what comes now fail
    _consult(intake, centre_id, case_id, 2)
    relay = eventually(lambda: (r := _relay(intake))["consecutive_failures"] >= 1 and r["lag"] >= 2 and r, timeout=30)
    assert relay["state"] != "ok", relay
    # Failing on: unready, naming why, and so in /metrics.
    with intake.operator() as operator:
        eventually(lambda: re.search(r"relay INTAKE: \d+ failures in a row", operator.get("/readyz").json().get(
            "detail", "")), timeout=30)
        assert 'tsunagu_loop_stuck{kind="relay",name="INTAKE",service="intake",stream="INTAKE"} 1.0' in \
            operator.get("/metrics").text
    nats_server.start()  # the same store; its duplicate window forgets the messages it lost

    # Caught up, by its own word, only once the stream holds the whole log.
    caught_up = eventually(lambda: (r := _relay(intake))["lag"] == 0 and r["state"] == "ok" and r, timeout=30)
    assert _on_stream(nats_server.url) == log_positions(intake), caught_up
    assert len(log_positions(intake)) == len(logged) + 2
