"""Each service keeps every table in its own database (SQLite file) or schema (PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from tests.harness import backend


@pytest.mark.parametrize("name", ["intake", "registry", "dispatch"])
def test_a_service_keeps_its_event_store_tracking_and_relay_tables_to_itself(nats_server, start_service, name):
    service = start_service(name, nats_server.url)
    engine = service.runtime.engine
    schema = service.settings.db_schema if backend() == "postgresql" else None
    tables = set(inspect(engine).get_table_names(schema=schema))
    assert {f"{name}_events", f"{name}_tracking", "relay_positions", "subject_keys"} <= tables
    if backend() == "postgresql":
        assert f"{name}_events" not in inspect(engine).get_table_names(schema="public")
    assert service.runtime.application.recorder.max_notification_id() in (None, 0)
