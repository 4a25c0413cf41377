"""Attack (h-attack7) on the relay's record behind the loop (messaging/relay_batches.py
`_record_behind`): a backlog's batch is recorded in a thread while the next batch's PubAck comes
back. Here that record's PostgreSQL backend is terminated (pg_terminate_backend, as a failover or an
operator would) while it waits inside its statement: the record fails after its batch was
acknowledged and the next one published. Held when the failure is counted, the relay compares with
the stream and records where it ends, the stream is the log once in order, and relay_chain has a row
for every published position with the stream's chain hash. Also: the record waiting on an
operator's open transaction (PostgreSQL) or another process's SQLite write lock makes the relay
unready while it waits, and it catches up after."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.fault.test_readiness import _ready, _unready_because
from tests.fault.test_relay_in_flight import _chain_is_the_stream, _gated_backlog, _watched
from tests.harness import backend, eventually, log_positions

pytestmark = pytest.mark.fault
on_postgresql = pytest.mark.skipif(backend() != "postgresql", reason="a PostgreSQL backend and its locks")


@on_postgresql
def test_a_record_behind_whose_backend_is_terminated_leaves_the_stream_and_the_chain_whole(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    relay = intake.runtime.relay
    gate = _gated_backlog(intake)
    recorded, published_after, _ = _watched(relay)
    failed_before = relay.health.failures_total
    positions = log_positions(intake)
    with relay.engine.connect() as admin:
        admin.execute(text("SELECT * FROM relay_positions WHERE stream = 'INTAKE' FOR UPDATE"))
        gate.set()
        # The first batch's record waits on the row, behind the loop, while the second is published.
        eventually(lambda: positions[4] in published_after and recorded == [positions[4]])

        def waiting() -> list[int]:
            return list(admin.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))")).scalars())

        blocked = eventually(waiting)
        assert len(blocked) == 1, blocked
        assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": blocked[0]}).scalar()
        eventually(lambda: relay.health.failures_total > failed_before)
        admin.rollback()
    eventually(lambda: relay.lag() == 0 and relay.position()[0] == positions[-1])
    _chain_is_the_stream(intake, nats_server.url)


@on_postgresql
def test_a_record_behind_waiting_on_an_operators_open_transaction_makes_the_relay_unready_until_it_ends(
        nats_server, start_service):
    """An operator's session left open holding the relay's position row (`SELECT ... FOR UPDATE` in
    psql, no idle timeout of ours): the record behind waits on it, and the loop with it."""
    intake = start_service("intake", nats_server.url, stall_seconds=2)
    relay = intake.runtime.relay
    gate = _gated_backlog(intake)
    positions = log_positions(intake)
    with relay.engine.connect() as admin:
        admin.execute(text("SELECT * FROM relay_positions WHERE stream = 'INTAKE' FOR UPDATE"))
        gate.set()
        body = _unready_because(intake, "relay INTAKE", "has not shrunk")
        looped = next(loop for loop in body["checks"]["loops"] if loop["kind"] == "relay")
        assert looped["state"] == "stuck" and looped["lag"] > 0, looped
        with intake.operator() as operator:
            assert 'tsunagu_loop_stuck{kind="relay",name="INTAKE",service="intake",stream="INTAKE"} 1.0' in \
                operator.get("/metrics").text
        admin.rollback()
    _ready(intake, "relay_lag")
    eventually(lambda: relay.position()[0] == positions[-1])
    _chain_is_the_stream(intake, nats_server.url)


@pytest.mark.skipif(backend() != "sqlite", reason="a SQLite file")
def test_a_record_behind_waiting_on_another_process_holding_the_sqlite_write_lock(nats_server, start_service):
    """Another process on the file (a backup, an operator's sqlite3 shell) holds its write lock while
    the relay drains a backlog: the record behind waits in the busy handler, and the loop with it,
    unready; the lock released within the busy timeout, the relay catches up, the stream whole."""
    import sqlite3

    intake = start_service("intake", nats_server.url, stall_seconds=2)
    relay = intake.runtime.relay
    gate = _gated_backlog(intake)
    recorded, published_after, _ = _watched(relay)
    positions = log_positions(intake)
    other = sqlite3.connect(relay.engine.url.database, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        gate.set()
        eventually(lambda: positions[4] in published_after and recorded == [positions[4]])
        body = _unready_because(intake, "relay INTAKE", "has not shrunk")
        looped = next(loop for loop in body["checks"]["loops"] if loop["kind"] == "relay")
        assert looped["state"] == "stuck" and looped["lag"] > 0, looped
        assert relay.position()[0] == positions[1]  # nothing recorded past the lock
    finally:
        other.execute("ROLLBACK")
        other.close()
    _ready(intake, "relay_lag")
    eventually(lambda: relay.position()[0] == positions[-1])
    _chain_is_the_stream(intake, nats_server.url)
