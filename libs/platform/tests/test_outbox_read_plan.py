"""The relay's read of its prepared messages (messaging/outbox.py) walks the primary key and stops
at its limit, whatever PostgreSQL's statistics say: relay_outbox is a queue, so they are stale
whenever a backlog forms, and the plan made for "a few rows" read and sorted the whole backlog for
every batch (10-23 ms a batch at 4,000 rows behind, quadratic to drain; issue 15)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from libs.platform.messaging.outbox import metadata, relay_outbox
from libs.platform.messaging.outbox_reads import READ, ordered_by_index, read_with_end
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
            plan = conn.execute(text(f"EXPLAIN {READ.text}"),
                                {"stream": "INTAKE", "after": 1000, "limit": 500}).scalars().all()
        assert "Index Scan using relay_outbox_pkey" in plan[1] and not any("Sort" in line for line in plan), plan


def test_the_read_with_the_logs_end_has_no_sort_to_disable_and_is_never_jit_compiled(tmp_path) -> None:
    """The relay's installed read (the log's end beside the rows) under ordered_by_index: a sort
    anywhere in it is costed 10^10, above jit_above_cost, and each read was JIT-compiled first
    (50-110 ms a batch: bench.relay on PostgreSQL 0.69 -> 0.21). Its rows come back in order."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (engine, application):
        app = application()
        metadata.create_all(engine)
        with engine.begin() as conn:  # a backlog, never analysed, inserted out of order
            conn.execute(relay_outbox.insert(), [
                {"stream": "INTAKE", "position": p, "previous": "0" * 64, "chainhash": "0" * 64,
                 "event_id": f"{p:036d}", "type": "t", "topic": "m:T", "subject": "intake.x", "body": b"x" * 700}
                for p in [*range(3001, 5001), *range(1, 3001)]])
        read = read_with_end(app.recorder.events_record_cls.__table__.fullname)
        with engine.connect() as conn:
            ordered_by_index(conn)
            plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) {read.text}"),
                                {"stream": "INTAKE", "after": 1000, "limit": 500}).scalar_one()
            rows = conn.execute(read, {"stream": "INTAKE", "after": 1000, "limit": 500}).all()
        top = plan[0]["Plan"]
        assert "Sort" not in json.dumps(plan) and top["Total Cost"] < 1e6, plan
        assert sorted(r[0] for r in rows) == list(range(1001, 1501))
