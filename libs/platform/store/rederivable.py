"""Write transactions that the log re-derives after a crash: their commits do not wait for the disk.

The relay's records (its position, the chain rows of what it published) and the log followers'
batches (read-model rows with their position, or the position alone) are derived from the event
log, whose commits stay synchronous. Each of those commits waited for its own flush (a WAL fsync,
4-5 ms on this project's machines), and on PostgreSQL that flush queued with the saves' own; on
SQLite the writer held the file's write lock (and the process's writers' lock, sqlite_begin.py) for
it, so a save waited out a follower's fsync (issue 15).

Here they commit without waiting: PostgreSQL `SET LOCAL synchronous_commit = off` (this
transaction only), SQLite `PRAGMA synchronous = NORMAL` on the connection for this transaction
(SQLite refuses to change it inside one: it is set before the BEGIN and put back when the
connection goes back to the pool). What a crash of the database server or of the host (not of our
process: the commit is in the server or the OS by then) can lose is the last such commits, as if
the writer had been killed before them:
- the relay's record: the stream is then ahead of the record, and the relay's comparison with the
  stream at start moves the record to the stream's end (messaging/relay.py); JetStream drops a
  message sent again by its Nats-Msg-Id;
- a follower's batch: its rows and its position go together (one transaction), and it applies
  them again from the recorded position (each event id counts once per projection).

Never anything of a save (its events, ledger rows, prepared messages, idempotency record) or a
subject's key: a later synchronous commit flushes every earlier one with it (PostgreSQL flushes the
WAL up to its own commit record; SQLite's fsync of the WAL file covers the frames before it, and its
frames' checksums chain), so what such a commit saw or followed is as durable as it is.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from libs.platform.store.db import begin_rides, rides_back
from libs.platform.store.sqlite_begin import NO_SYNC

NO_FLUSH_WAIT = "SET LOCAL synchronous_commit = off"
_on: contextvars.ContextVar[bool] = contextvars.ContextVar("tsunagu_rederivable", default=False)


@contextmanager
def rederivable() -> Iterator[None]:
    """The transactions `begin` opens in this block are re-derivable (a follower's round)."""
    token = _on.set(True)
    try:
        yield
    finally:
        _on.reset(token)


@contextmanager
def begin(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()`; inside `rederivable()`, a transaction whose commit does not wait for the
    disk (see the module)."""
    if not _on.get():
        with engine.begin() as conn:
            yield conn
        return
    with connect(engine) as conn, conn.begin():
        no_flush_wait(conn)
        yield conn


@contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """`engine.connect()`, whose next transaction's commit does not wait for the disk on SQLite;
    on PostgreSQL its first statement says so (`no_flush_wait`, or NO_FLUSH_WAIT with it)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.execution_options(**{NO_SYNC: True})
        yield conn


def no_flush_wait(conn: Connection) -> None:
    """This transaction's commit does not wait for its WAL flush (PostgreSQL). With its BEGIN in the
    same query when nothing of the transaction was sent yet (store/db.begin_rides): no round trip
    more than psycopg's own BEGIN."""
    if conn.dialect.name != "postgresql":
        return
    if conn.dialect.driver == "psycopg" and rides_back(conn.engine) and begin_rides(conn):
        conn.exec_driver_sql(f"BEGIN; {NO_FLUSH_WAIT}", execution_options={"no_parameters": True}).close()
    else:
        conn.exec_driver_sql(NO_FLUSH_WAIT)
