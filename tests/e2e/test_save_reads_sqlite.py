"""A command's save on SQLite sends its two reads — the sealed keys' erasure check and the outbox's
chain head — as the driver's SQL compiled once (store/driver_sql.py), not through the ORM session
(issue 15: a cache key built anew for each, an eighth of the request thread's CPU). Same reads, same
transaction: an erased subject still refuses the save (tests of SubjectKeys), and the message is
still chained to the one before it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import backend

pytestmark = pytest.mark.skipif(backend() != "sqlite", reason="PostgreSQL sends both with the save's LOCK")


def test_a_saves_erasure_check_and_chain_head_on_sqlite_are_the_drivers_sql(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    engine = intake.runtime.application.recorder.datastore.engine
    reads: list[tuple[str, bool]] = []

    def sent(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        if "subject_key_erasures" in statement:
            reads.append(("erasure check", context.compiled is not None))
        elif "relay_chain" in statement and "intake_events" in statement:
            reads.append(("chain head", context.compiled is not None))

    event.listen(engine, "after_cursor_execute", sent)
    try:
        with intake.client(role="centre_staff", org=centre_id) as staff:
            r = staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00", "summary": "母親から電話相談"})
            assert r.status_code == 201, r.text
    finally:
        event.remove(engine, "after_cursor_execute", sent)
    assert sorted(reads) == [("chain head", False), ("erasure check", False)]  # compiled by SQLAlchemy: True
