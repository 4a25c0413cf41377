"""Consumers apply only what the producer signed (issue 14): a message on a service's stream that
its relay did not sign — unsigned, signed by another key, or a signed body changed — is
dead-lettered at once with the reason, never applied, and the stream goes on behind it."""

from __future__ import annotations

import asyncio
import json
import uuid

import nats
import pytest

from libs.platform.messaging.signing import HEADER, EventSigner
from libs.platform.tools.natsserver import EmbeddedNats
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.harness import drained, eventually

pytestmark = pytest.mark.fault


def _consult(intake, centre_id: str, case_id: str, when: str) -> None:
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"/v1/cases/{case_id}/consultations", json={"channel": "phone", "occurred_at": when})
        assert r.status_code == 201, r.text


def _total(reporting) -> int:
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        return pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"]


def _replay(nats_url: str, genuine) -> None:
    """A genuine signed message copied onto the stream again: body and signature as they were."""
    async def publish() -> None:
        nc = await nats.connect(nats_url)
        try:
            await nc.jetstream().publish(genuine.subject, genuine.data, headers={
                "Nats-Msg-Id": f"replayed-{uuid.uuid4()}", HEADER: genuine.headers[HEADER]})
        finally:
            await nc.close()

    asyncio.run(publish())


def _forge(nats_url: str, genuine) -> None:
    """What someone past the NATS permissions could put on INTAKE: copies of a real consultation."""
    event = json.loads(genuine.data)

    def copy(n: int) -> bytes:
        return json.dumps({**event, "id": f"{event['id']}-forged-{n}"}).encode()

    async def publish() -> None:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await js.publish(genuine.subject, copy(1), headers={"Nats-Msg-Id": "forged-1"})
            await js.publish(genuine.subject, copy(2), headers={
                "Nats-Msg-Id": "forged-2", HEADER: EventSigner("11" * 32).header(copy(2))})
            await js.publish(genuine.subject, copy(3), headers={
                "Nats-Msg-Id": "forged-3", HEADER: genuine.headers[HEADER]})  # a real signature, another body
        finally:
            await nc.close()

    asyncio.run(publish())


@pytest.fixture
def nats_server(tmp_path):
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


def test_events_the_producer_did_not_sign_are_dead_lettered_and_the_stream_goes_on(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    _consult(intake, centre_id, case_id, "2016-05-01T10:00:00+09:00")
    messages = drained(nats_server.url, intake, reporting)
    assert all(m.headers.get(HEADER, "").startswith("ed25519:") for m in messages), "every event is signed"
    assert _total(reporting) == 1

    _forge(nats_server.url, messages[-1])
    _consult(intake, centre_id, case_id, "2016-06-01T10:00:00+09:00")  # genuine, behind the forged ones
    eventually(lambda: _total(reporting) == 2)
    with reporting.operator() as operator:
        letters = eventually(lambda: (d := operator.get("/v1/ops/dead-letters").json()["data"]) and len(d) == 3 and d)
    assert all(d["consumer"] == "reporting-intake" and d["reason"].startswith("forged event") for d in letters)
    assert _total(reporting) == 2  # none of the three was counted

    # A genuine signature on a replayed copy: applied once already, refused as a replay — live,
    # and after a restart (the consumer reads the last genuine message's log position back).
    _replay(nats_server.url, messages[-1])
    with reporting.operator() as operator:
        letters = eventually(lambda: (d := operator.get("/v1/ops/dead-letters").json()["data"]) and len(d) == 4 and d)
    assert "replayed" in letters[-1]["reason"], letters[-1]
    reporting.stop()
    _replay(nats_server.url, messages[-1])
    reporting.start()
    _consult(intake, centre_id, case_id, "2016-07-01T10:00:00+09:00")
    eventually(lambda: _total(reporting) == 3)
    with reporting.operator() as operator:
        letters = eventually(lambda: (d := operator.get("/v1/ops/dead-letters").json()["data"]) and len(d) == 5 and d)
    assert all("replayed" in d["reason"] for d in letters[3:]), letters
    assert _total(reporting) == 3
