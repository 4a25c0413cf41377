"""attack9: a service stopped while its NATS server is away (an operator's SIGTERM during an outage)
still stops whole: nats-py's close flushes what it buffered meanwhile into the lost socket and raised
ConnectionResetError out of the lifespan, so reporting's heartbeat row stayed (an offline rebuild then
took the stopped service for a live one), and the application and the engine were never closed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from libs.platform.readmodels.heartbeat import heartbeats
from libs.platform.tools.natsserver import EmbeddedNats
from tests.harness import eventually, provision_streams

pytestmark = pytest.mark.fault


def _beating(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(heartbeats.c.instance).where(heartbeats.c.service == "reporting")).scalars())


def test_a_service_stopped_while_nats_is_away_stops_whole(tmp_path, start_service):
    nats = EmbeddedNats(tmp_path / "nats")
    nats.start()
    try:
        provision_streams(nats.url, "intake", "registry", "dispatch")
        reporting = start_service("reporting", nats.url)
        engine = reporting.runtime.engine  # (disposed at the stop: it connects again to look)
        assert eventually(lambda: _beating(engine), timeout=30)
        bus = reporting.runtime.bus
        nats.stop()
        # Its loops asked the server meanwhile: what they sent waits in the client for a connection.
        assert eventually(lambda: bus.nc is not None and not bus.connected and bus.nc._pending_data_size > 0,
                          timeout=30)
        reporting.stop()
        assert _beating(engine) == []
    finally:
        nats.stop()


def test_a_service_whose_nats_never_answered_stops_without_waiting_out_its_loops(database, monkeypatch):
    """A service started while NATS is away and stopped before it answers: its relay and consumers
    waited for the bus without looking at their stop, and the bus's connect kept trying, so the stop
    took the lifespan's whole wait for its loops (8 s, then they were cancelled: CI teardowns of 8.2 s).
    Here that wait is an hour: the service must stop because its loops end, not because the wait ran out."""
    from libs.platform.tools.natsserver import free_port
    from libs.platform.web import service
    from services.dispatch.bootstrap import create_app
    from tests.harness import ServiceServer

    monkeypatch.setattr(service, "STOP_SECONDS", 3600)
    dispatch = ServiceServer("dispatch", create_app, database.settings("dispatch", f"nats://127.0.0.1:{free_port()}"))
    dispatch.start()
    thread = dispatch._thread
    dispatch.stop()  # waits 30 s at most
    assert thread is not None and not thread.is_alive(), "the service is still stopping"
