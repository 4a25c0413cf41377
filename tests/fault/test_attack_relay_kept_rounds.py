"""Attack (h-attack3) on the relay's rounds kept in memory and recorded together
(messaging/relay_records.py): nats-server killed and started again while rounds are kept and
commands go on, and an operator who deletes the stream's last message or purges the stream while
rounds are kept. After the server's restart the stream must end as the log once (in order,
chained), the record at its end, and the relay ready again; after the operator's deletion, the
relay must be unready naming the loss, and the auditor's comparison of the bus with the store must
say where."""

from __future__ import annotations

import asyncio
import os
import signal

import nats
import pytest

from libs.platform.audit.verify import Report, compare_bus
from libs.platform.messaging.cloudevents import Envelope
from tests.e2e.test_consultation_slice import _setup_case
from tests.fault.test_pipeline_faults import _consult
from tests.fault.test_readiness import _ready, _unready_because
from tests.fault.test_relay_records_kept import AN_HOUR, _chain, _published_to_the_end
from tests.harness import assert_stream_is_the_log_once, eventually, log_positions, published

pytestmark = pytest.mark.fault


def _kept(intake) -> None:
    relay = intake.runtime.relay
    eventually(lambda: relay.lag() == 0)
    relay.record_seconds = AN_HOUR  # rounds kept until a failure, a comparison or the stop


def _stream_is_the_log_and_recorded(intake, nats_url: str) -> None:
    eventually(lambda: _published_to_the_end(intake), timeout=30)
    intake.stop()  # records what it kept
    assert intake.runtime.relay.position()[0] == log_positions(intake)[-1]
    envelopes = assert_stream_is_the_log_once(intake, nats_url)
    assert _chain(intake) == {e.sequence: e.chainhash for e in envelopes}


def test_nats_killed_and_started_again_while_rounds_are_kept_loses_and_doubles_nothing(nats_server, start_service):
    intake = start_service("intake", nats_server.url, stall_seconds=2)
    centre_id, case_id = _setup_case(intake)
    _kept(intake)
    _consult(intake, centre_id, case_id, 5)
    eventually(lambda: _published_to_the_end(intake))
    assert intake.runtime.relay._kept.owed  # kept, not recorded
    os.kill(nats_server.proc.pid, signal.SIGKILL)
    nats_server.proc.wait()
    nats_server.proc = None
    _consult(intake, centre_id, case_id, 3)  # saved while the server is away
    _unready_because(intake, "relay INTAKE")
    nats_server.start()
    _consult(intake, centre_id, case_id, 2)
    _ready(intake, "relay_lag")
    _stream_is_the_log_and_recorded(intake, nats_server.url)


async def _operator(nats_url: str, what: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        if what == "purge":
            await js.purge_stream("INTAKE")
        else:
            info = await js.stream_info("INTAKE")  # its last message, or the one two before it
            await js.delete_msg("INTAKE", info.state.last_seq - (2 if what == "delete a middle" else 0))
    finally:
        await nc.close()


@pytest.mark.parametrize("what", ["delete", "purge"])
def test_an_operator_who_deletes_from_the_stream_while_rounds_are_kept_is_caught_by_the_relay_and_the_audit(
        nats_server, start_service, what):
    """The relay takes an event of its log after a deleted message as in place (relay_order.py
    _last_in_place: what was there is not known; sent again within the duplicate window, the server
    would drop it as a duplicate anyway), so the stream keeps the hole; but the hole is never "ready":
    /readyz is unready naming the stream and how many messages it lost (messaging/stream_gaps.py),
    with rounds kept or not, and the relay publishes on. Which events: the auditor's comparison of
    the bus with the store (`tsunagu audit verify --nats`, audit/verify.compare_bus): the chain
    breaks after the hole."""
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    _kept(intake)
    _consult(intake, centre_id, case_id, 4)
    eventually(lambda: _published_to_the_end(intake))
    lost = log_positions(intake)
    asyncio.run(_operator(nats_server.url, what))
    _consult(intake, centre_id, case_id, 2)  # published after the deletion, the rounds still kept
    eventually(lambda: _published_to_the_end(intake))
    intake.stop()
    intake.start()  # compares with the stream: the events after the hole are in place, the hole flagged
    _consult(intake, centre_id, case_id, 1)
    missing = len(lost) if what == "purge" else 1
    _unready_because(intake, "relay INTAKE", f"stream INTAKE is missing {missing} message", "audit verify --nats")
    eventually(lambda: _published_to_the_end(intake))
    intake.stop()
    assert intake.runtime.relay.position()[0] == log_positions(intake)[-1]
    bus = [Envelope.from_json(m.data) for m in published(intake, nats_url=nats_server.url)]
    gone = lost[-1:] if what == "delete" else lost
    assert [e.sequence for e in bus] == [p for p in log_positions(intake) if p not in gone]
    report = Report("intake")
    compare_bus(report, intake.runtime.relay.reader.read(0, 10_000), bus)
    assert report.first_bad_sequence == lost[-1] + 1 and "breaks the hash chain" in report.problems[0]
