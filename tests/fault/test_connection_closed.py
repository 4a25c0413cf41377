"""A connection the NATS server closes for good (any `-ERR`: nats-py does not reconnect after one) is
made anew by the bus: intake's relay and reporting's consumer carry on, and nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from libs.platform.tools.natsserver import EmbeddedNats
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.fault.test_readiness import _consult, _ready
from tests.harness import assert_stream_is_the_log_once, eventually, provision_streams

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


def test_a_relay_whose_connection_the_server_closed_while_a_puback_was_due_publishes_again_at_once(
        nats_server, start_service):
    """The PubAcks a closed connection was waiting for can no longer come: the bus settles them as
    failed when it connects anew (messaging/bus.fail_pending_acks), so the relay publishes again
    on the new connection at once; nats-py left them waiting, and the relay waited out its ack
    timeout (5 s; here 600 s, longer than the test waits)."""
    intake = start_service("intake", nats_server.url)
    relay, bus = intake.runtime.relay, intake.runtime.bus
    relay.ack_timeout = 600.0
    centre_id, case_id = _setup_case(intake)
    eventually(lambda: relay.lag() == 0)
    client, reconnects = bus.client, bus.reconnects
    os.kill(nats_server.proc.pid, signal.SIGSTOP)  # what the service sends now waits in its socket, in order
    try:
        # A message the server closes the connection for (over max_payload with its headers), then an
        # event the relay publishes behind it: the server never reads the event, nor answers its PubAck.
        loop = client._flusher_task.get_loop()
        asyncio.run_coroutine_threadsafe(client.publish(
            "oversize.x", b"x" * (client.max_payload - 20), headers={"Big": "y" * 100}), loop).result(timeout=10)
        _consult(intake, centre_id, case_id, 1)
        eventually(lambda: bus.js.publish_async_pending() > 0)
    finally:
        os.kill(nats_server.proc.pid, signal.SIGCONT)
    eventually(lambda: client.is_closed and bus.connected and bus.reconnects > reconnects, timeout=30)
    eventually(lambda: relay.lag() == 0, timeout=30)  # long before the 600 s ack timeout
    assert_stream_is_the_log_once(intake, nats_server.url)
