"""A connection the NATS server closes for good (any `-ERR`: nats-py does not reconnect after one) is
made anew by the bus: intake's relay and reporting's consumer carry on, and nothing is lost."""

from __future__ import annotations

import asyncio

import pytest

from libs.platform.tools.natsserver import EmbeddedNats
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.fault.test_readiness import _consult, _ready
from tests.harness import eventually, provision_streams

pytestmark = pytest.mark.fault


def _closed_by_the_server(service) -> None:
    """What a message over max_payload with its headers does (the server counts them, nats-py not):
    sent on the service's own connection, from its own event loop."""
    bus = service.runtime.bus
    client = bus.client
    loop = client._flusher_task.get_loop()
    sent = asyncio.run_coroutine_threadsafe(client.publish("oversize.x", b"x" * 450, headers={"Big": "y" * 100}),
                                            loop)
    sent.result(timeout=10)
    assert eventually(lambda: client.is_closed, timeout=30)


def test_services_whose_connections_the_server_closed_connect_anew_and_lose_nothing(tmp_path, start_service):
    nats = EmbeddedNats(tmp_path / "nats", max_payload=1024 * 1024)
    nats.start()
    try:
        intake = start_service("intake", nats.url)
        provision_streams(nats.url, "registry", "dispatch")  # their services do not run here
        reporting = start_service("reporting", nats.url)
        centre_id, case_id = _setup_case(intake)
        _consult(intake, centre_id, case_id, 2)
        _ready(reporting, "consumer_lag")
        nats.stop()
        nats.max_payload = 512  # small enough to send past: the services connect with this limit
        nats.start()
        for service in (intake, reporting):
            assert eventually(lambda s=service: s.runtime.bus.connected and s.runtime.bus.client.max_payload == 512,
                              timeout=30)
            _closed_by_the_server(service)
        nats.stop()
        nats.max_payload = None
        nats.start()
        _consult(intake, centre_id, case_id, 3)  # stored; published once intake is connected again

        with reporting.client(role="prefecture_officer", org=PREF) as pref:
            def counted() -> int | None:
                total = pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"]
                return total if total == 5 else None

            assert eventually(counted, timeout=60) == 5
        _ready(intake, "relay_lag")
        _ready(reporting, "consumer_lag")
    finally:
        nats.stop()
