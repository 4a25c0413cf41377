"""The relay's read of its prepared messages (messaging/outbox.py) walks the primary key and stops
at its limit, whatever PostgreSQL's statistics say: relay_outbox is a queue, so they are stale
whenever a backlog forms, and the plan made for "a few rows" read and sorted the whole backlog for
every batch (10-23 ms a batch at 4,000 rows behind, quadratic to drain; issue 15)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from libs.platform.messaging.outbox import _READ, metadata, ordered_by_index, relay_outbox
from services.intake.application import IntakeApplication
from tests.harness import backend, stored_applications

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="a PostgreSQL query plan")


def test_a_backlog_of_prepared_messages_is_read_along_the_index_with_no_sort(tmp_path) -> None:
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, _):
        metadata.create_all(engine)
        with engine.begin() as conn:  # a backlog of messages the size of ours, never analysed
            conn.execute(relay_outbox.insert(), [
                {"stream": "INTAKE", "position": p, "previous": "0" * 64, "chainhash": "0" * 64,
                 "event_id": f"{p:036d}", "type": "t", "topic": "m:T", "subject": "intake.x", "body": b"x" * 700}
                for p in range(1, 5001)])
        with engine.connect() as conn:
            ordered_by_index(conn)
            plan = conn.execute(text(f"EXPLAIN {_READ.text}"),
                                {"stream": "INTAKE", "after": 1000, "limit": 500}).scalars().all()
        assert "Index Scan using relay_outbox_pkey" in plan[1] and not any("Sort" in line for line in plan), plan
