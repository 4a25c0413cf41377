"""attack9: a stream deleted and created again under a running consumer (the documented way back
from lost messages: the relay sends its whole log again, numbered from 1 without the old stream's
foreign messages) is not followed silently from the old position: the new stream put later events
at sequences up to it, and reporting never counted 5 of the 8 consultations recorded after the
rebuild while it said ready (once the foreign messages' dead letters were resolved). The consumer
keeps the stream it read and dead-letters its position when the stream is another: unready until
an operator rebuilds its read model and resolves it (messaging/stream_renewed.py)."""

from __future__ import annotations

import asyncio

import nats
import pytest

from tests.e2e.test_consultation_slice import PREF
from tests.fault.test_attack_stream_gaps import _rebuilt, _started
from tests.fault.test_readiness import _consult
from tests.fault.test_relay_order import _foreign
from tests.harness import eventually, provision_streams

pytestmark = pytest.mark.fault


def _total(reporting) -> int:
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        return pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"]


def _dead_letters(reporting) -> list[str]:
    return [d["reason"] for d in reporting.runtime.dead_letters.listed(open_only=True)]


def test_a_stream_created_anew_under_a_consumer_is_an_open_dead_letter_not_skipped_events(
        nats_server, start_service):
    intake, centre_id, case_id = _started(nats_server, start_service, 3)
    provision_streams(nats_server.url, "registry", "dispatch")
    reporting = start_service("reporting", nats_server.url)
    _foreign(nats_server.url, 5)  # the old stream's numbering runs 5 ahead of the log's
    _consult(intake, centre_id, case_id, 2)
    assert eventually(lambda: _total(reporting) == 5 and len(_dead_letters(reporting)) == 5, timeout=30)
    _rebuilt(nats_server.url)
    _consult(intake, centre_id, case_id, 8)
    assert eventually(lambda: [r for r in _dead_letters(reporting) if "created anew" in r], timeout=30)


def _delete_consumer(nats_url: str, durable: str) -> None:
    async def delete() -> None:
        nc = await nats.connect(nats_url)
        try:
            await nc.jetstream().delete_consumer("INTAKE", durable)
        finally:
            await nc.close()

    asyncio.run(delete())


def test_a_consumer_reads_the_stream_its_positions_are_in_once_a_run_not_at_every_subscribe(
        nats_server, start_service, monkeypatch):
    """Every hole, idle check, failure and reconnect makes the consumer again: the stream its
    positions were recorded in is read from the database once a run (and once after it wrote it),
    not at each of them (it read the consumer_streams table every time)."""
    intake, centre_id, case_id = _started(nats_server, start_service, 1)
    provision_streams(nats_server.url, "registry", "dispatch")
    reporting = start_service("reporting", nats_server.url)
    runner = next(c for c in reporting.runtime.consumers if c.spec.name == "INTAKE")
    runner.idle_check_seconds = 0.2  # a consumer the server lost is made again sooner
    eventually(lambda: _total(reporting) == 1 and runner.resubscribed >= 1)
    dead_letters, reads = reporting.runtime.dead_letters, []
    read = dead_letters.stream_created

    def counted(**where: str) -> str | None:
        reads.append(where)
        return read(**where)

    monkeypatch.setattr(dead_letters, "stream_created", counted)
    for made in range(runner.resubscribed + 1, runner.resubscribed + 4):
        _delete_consumer(nats_server.url, runner.durable)  # the server lost it: made again
        eventually(lambda made=made: runner.resubscribed >= made)
    assert len(reads) <= 1, reads  # the one after it wrote it, at the run's first subscribe
    _consult(intake, centre_id, case_id, 2)
    assert eventually(lambda: _total(reporting) == 3) and _dead_letters(reporting) == []
