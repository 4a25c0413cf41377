"""SQLite transactions that begin where SQLAlchemy says they do (the deferred-BEGIN class).

pysqlite, in its default (legacy) transaction mode, sends BEGIN only right before the first
INSERT/UPDATE/DELETE: the reads a transaction makes before its first write run outside it, each on
a snapshot of its own, and another connection may commit between them and the write. Code that
writes on what it read (`with engine.begin(): x = select(...); update(... x ...)`) then wrote on a
stale read: the reporting rebuild fence lost a replay's events so (rebuilds.py), and the event
store's tracked saves read the upstream position before their BEGIN (eventsourcing-sqlalchemy's
`_insert_tracking`: only its in-process write semaphore kept two of them apart).

Here the driver is put in autocommit (`isolation_level = None`) and the engine's "begin" event sends
the BEGIN itself (SQLAlchemy's documented recipe, "Serializable isolation / Savepoints /
Transactional DDL"), so every statement of a transaction is in it:

- a transaction begun to write — `engine.begin()`, `Connection.begin()`, the ORM session of the
  event store's writes (`datastore.transaction(commit=True)`) — sends `BEGIN IMMEDIATE`: it takes
  the database's write lock first, waiting for it under the busy timeout, so nothing commits between
  its reads and its writes;
- a transaction SQLAlchemy begins by itself on a connection's first statement (`engine.connect()`
  then `execute`: how every read here is made) and the event store's reads (`transaction(commit=
  False)`) send a plain (deferred) `BEGIN`: its statements read one snapshot, and readers never
  wait for writers (WAL).

Why not a plain `BEGIN` for all: in WAL, a read transaction that then writes fails at once
(SQLITE_BUSY, "database is locked", no busy wait) when another connection holds the write lock or
committed since its snapshot: every read-then-write under load would fail instead of waiting. Why
not `BEGIN IMMEDIATE` for all: every read would wait for the writer of the moment.

A connection used in SQLAlchemy's AUTOCOMMIT isolation sends no BEGIN (and the pool's reset puts the
driver back in its legacy mode at checkin: each begin turns it to autocommit again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing_sqlalchemy.datastore import transactions
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

Writes = Callable[[Connection], bool]


class _Connection(Connection):
    """A Connection that knows whether the transaction now beginning is one SQLAlchemy began by
    itself (autobegin: a read's first statement) or one the caller asked for (`begin()`)."""

    _autobegun = False

    def _autobegin(self) -> None:
        self._autobegun = True
        try:
            super()._autobegin()
        finally:
            self._autobegun = False


def asked_to_begin(conn: Connection) -> bool:
    """A write transaction: one begun by `begin()`, not by a connection's first statement."""
    return not getattr(conn, "_autobegun", False)


def event_store_writes(conn: Connection) -> bool:
    """On the event store's engine: the library's transaction says (commit=True: a save); outside
    one, as on any engine."""
    try:
        return transactions.get().commit
    except LookupError:
        return asked_to_begin(conn)


def event_store_begins(datastore: Any) -> None:
    """The event store's engine (eventsourcing-sqlalchemy's own), its reads and its saves' reads in
    their transactions. WAL first: the library sets it on its first transaction, which would then
    run inside a BEGIN, where SQLite refuses to change the journal mode."""
    if isinstance(datastore.engine, Engine) and datastore.engine.dialect.name == "sqlite":
        datastore.init_sqlite_wal_mode()
        begin_where_said(datastore.engine, event_store_writes)


def begin_where_said(engine: Engine, writes: Writes = asked_to_begin) -> Engine:
    """Send SQLite's BEGIN from SQLAlchemy's begin: `BEGIN IMMEDIATE` when `writes(conn)`, else
    `BEGIN` (see the module). Other databases: unchanged."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_tsunagu_begins", False):
        return engine
    engine._tsunagu_begins = True  # type: ignore[attr-defined]  # once per engine
    engine._connection_cls = _Connection  # SQLAlchemy 2.0's Engine.connect() makes it

    @event.listens_for(engine, "connect")
    def _driver_autocommit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return
        dbapi: Any = conn.connection.dbapi_connection
        if dbapi.isolation_level is not None:  # a connection the pool reset, or made before this
            dbapi.isolation_level = None
        # Through SQLAlchemy, so a busy timeout is its OperationalError like any statement's.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes(conn) else "BEGIN")

    return engine
