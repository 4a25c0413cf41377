"""What the background loops' reads cost on PostgreSQL (issue 15): a follower's read of the log and
the relay's read of its position and prepared messages each go as their statements alone, in
autocommit on a connection not pinged first (store/db.read_unpinged) — no ping, BEGIN or ROLLBACK
around them, which made each of these reads four round trips or more, every round."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from libs.platform.messaging.outbox import relay_chain, relay_outbox, relay_positions
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import backend, eventually
from tests.statements import round_trips

pytestmark = pytest.mark.skipif(backend() != "postgresql", reason="a ping, BEGIN or ROLLBACK is a round trip there")


def test_the_loops_reads_of_the_log_and_the_outbox_are_their_statements_alone(nats_server, start_service):
    intake = start_service("intake", nats_server.url, relay_poll_seconds=3600.0)  # no round but those woken
    runtime = intake.runtime
    relay, reader = runtime.relay, runtime.followers[0].reader
    _setup_case(intake)
    eventually(lambda: relay.lag() == 0 and all(f.lag() == 0 for f in runtime.followers))
    end = reader.max_position()
    with round_trips(runtime.engine, runtime.application.recorder.datastore.engine) as trips:
        assert len(reader.read(0, 2)) == 2
        assert trips == ["SELECT"]  # the log read: one round trip
        trips.clear()
        batch = relay._prepared()  # its position is in memory while it runs
        # The prepared rows (none) with the log's end as that read saw it: nothing more to read (the log
        # after them was a second round trip, every idle round, and raced a commit: outbox.install).
        assert trips == ["SELECT"]
        assert (batch.messages, batch.last, batch.end) == ([], end, end)


def test_a_relay_round_whose_prepared_messages_reach_the_logs_end_reads_no_further(nats_server, start_service):
    # A web-only replica runs no relay: the prepared messages of its saves wait in the outbox.
    web = start_service("intake", nats_server.url, replicas=2, lease_seconds=1.0, background=False)
    _setup_case(web)
    runtime = web.runtime
    relay, end = runtime.relay, runtime.relay.reader.max_position()
    with round_trips(runtime.engine, runtime.application.recorder.datastore.engine) as trips:
        batch = relay._prepared()
    assert trips == ["SELECT", "SELECT"]  # its position, then the prepared rows with the log's end
    assert (batch.last, batch.end, batch.envelopes) == (end, end, [])  # every message prepared, none rendered
    assert len(batch.messages) == len(runtime.application.recorder.select_notifications(start=1, limit=100))

    # Read ahead (a backlog's next batch, in its no-sort transaction): BEGIN with the SET, the read, ROLLBACK.
    at = relay.position()
    with round_trips(runtime.engine) as trips:
        ahead = relay._prepared(at)
    assert trips == ["BEGIN;", "SELECT", "ROLLBACK"]
    assert ahead.messages == batch.messages
    # A backlog's batch recorded (its prepared rows kept): one query with its BEGIN and COMMIT.
    with round_trips(runtime.engine) as trips:
        relay._record(batch.last, batch.chainhash, batch.chain, (batch.after, batch.prepared), forget=False)
    assert trips == ["BEGIN;"]
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(relay_outbox)).scalar_one() == len(batch.messages)
    # Its record once published: one query with its BEGIN and COMMIT; what the statements one by one wrote.
    with round_trips(runtime.engine) as trips:
        relay._record(batch.last, batch.chainhash, batch.chain, (batch.after, batch.prepared))
    assert trips == ["BEGIN;"]
    with runtime.engine.connect() as conn:
        assert conn.execute(select(relay_positions.c.position, relay_positions.c.chainhash)).all() == \
            [(end, batch.chainhash)]
        assert conn.execute(select(func.count()).select_from(relay_outbox)).scalar_one() == 0
        chained = conn.execute(select(relay_chain.c.position).order_by(relay_chain.c.position)).scalars().all()
    assert len(chained) == len(batch.messages) and chained[-1] == end
    assert relay.position() == (end, batch.chainhash)
    with runtime.engine.connect() as conn:
        assert conn.connection.dbapi_connection.autocommit is False
