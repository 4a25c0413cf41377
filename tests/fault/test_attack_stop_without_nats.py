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
