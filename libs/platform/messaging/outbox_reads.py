"""The relay's reads of `relay_outbox` (messaging/outbox.py) and the copy of a published batch's
chain rows: the statements and the plan they are read by on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import TextClause, text
from sqlalchemy.engine import Connection

from libs.platform.store.db import begin_rides


def ordered_by_index(conn: Connection, *, ride: bool = False) -> None:
    """Have PostgreSQL read `READ` along the primary key for the rest of this transaction (the
    relay calls it where a backlog drains: relay_batches.RelayBatches._prepared).

    relay_outbox is a queue (rows come with saves and go once published), so its statistics are
    stale whenever a backlog forms: planned for "a few rows", the read fetched every row after the
    position (a bitmap scan) and sorted them to keep 500: 10-23 ms a batch for a backlog of 4,000
    rows instead of 0.3-0.4 ms, more the longer the backlog (quadratic to drain). Without a sort
    the only plan left is the ordered index scan that stops at the limit. `ride`: BEGIN goes with it
    (store/db.begin_rides: only on make_engine's engines), a round trip fewer per batch read ahead."""
    if ride and conn.dialect.driver == "psycopg" and begin_rides(conn):
        conn.exec_driver_sql(f"BEGIN; {_NO_SORT.text}", execution_options={"no_parameters": True}).close()
    elif conn.dialect.name == "postgresql":
        conn.execute(_NO_SORT)


_NO_SORT = text("SET LOCAL enable_sort = off")  # this transaction only: the pool rolls it back
_READ_SQL = ("SELECT position, previous, chainhash, event_id, type, topic, subject, body, signature, signed_by "
             "FROM relay_outbox "
             "WHERE stream = :stream AND position > :after ORDER BY position LIMIT :limit")
READ = text(_READ_SQL)


def read_with_end(log: str) -> TextClause:
    """`READ` with the log's end beside its rows, in the same statement (one snapshot), and one row
    of NULLs beside the end when nothing is prepared. No ORDER BY around the join (`read` sorts the
    rows): under ordered_by_index a sort there is costed as disabled (10^10), which is above
    PostgreSQL's jit_above_cost, so every read of a backlog was JIT-compiled first: 50-110 ms a
    batch, bench.relay on PostgreSQL 0.69 -> 0.21 (test_outbox_read_plan)."""
    return text(f"SELECT o.*, e.log_end FROM (SELECT max(id) AS log_end FROM {log}) AS e "
                f"LEFT JOIN ({_READ_SQL}) AS o ON 1 = 1")


# The relay_chain rows of prepared messages the relay published, copied in the database.
CHAIN_OF_PREPARED = text("INSERT INTO relay_chain (stream, position, event_id, type, chainhash) "
                         "SELECT stream, position, event_id, type, chainhash FROM relay_outbox "
                         "WHERE stream = :stream AND position > :after AND position <= :last")
