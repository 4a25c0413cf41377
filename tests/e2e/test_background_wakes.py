"""The relay and the log followers wake when the service commits (issue 15): with the fallback
poll an hour long, a command still reaches the read models, the stream and reporting."""

from __future__ import annotations

from sqlalchemy import func, select

from services.reporting.projections.tables import consultations
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import eventually

AN_HOUR = 3600.0


def _followed(runtime) -> bool:
    """Every loop following the log is at its end (asked without catching up ourselves)."""
    end = runtime.relay.reader.max_position()
    return runtime.relay.position()[0] == end and all(
        f.handler.position(f.stream) == end for f in runtime.followers)


def test_a_command_reaches_relay_read_models_and_reporting_without_waiting_for_a_poll(nats_server, start_service):
    intake = start_service("intake", nats_server.url, relay_poll_seconds=AN_HOUR)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for _ in range(3):
            r = staff.post(f"/v1/cases/{case_id}/consultations",
                           json={"channel": "phone", "occurred_at": "2016-07-01T10:00:00+09:00"})
            assert r.status_code == 201, r.text

    eventually(lambda: _followed(intake.runtime))

    def counted() -> bool:
        with reporting.runtime.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(consultations)).scalar_one() == 3

    eventually(counted)
