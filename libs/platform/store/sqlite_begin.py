"""SQLite transactions that begin where SQLAlchemy says they do (the deferred-BEGIN class).

pysqlite, in its default (legacy) transaction mode, sends BEGIN only right before the first
INSERT/UPDATE/DELETE: the reads a transaction makes before its first write run outside it, each on
a snapshot of its own, and another connection may commit between them and the write. Code that
writes on what it read (`with engine.begin(): x = select(...); update(... x ...)`) then wrote on a
stale read: the reporting rebuild fence lost a replay's events so (rebuilds.py), and the event
store's tracked saves read the upstream position before their BEGIN (eventsourcing-sqlalchemy's
`_insert_tracking`: only its in-process write semaphore kept two of them apart).

Here the driver is put in autocommit (`isolation_level = None`) and SQLAlchemy's begin sends the
BEGIN itself (SQLAlchemy's documented recipe, "Serializable isolation / Savepoints / Transactional
DDL", done in the engine's Connection class instead of a "begin" event: see `_Connection`), so
every statement of a transaction is in it:

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

import sqlite3
from collections.abc import Callable
from typing import Any

from eventsourcing_sqlalchemy.datastore import transactions
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

Writes = Callable[[Connection], bool]


class _Connection(Connection):
    """A Connection of an engine given to `begin_where_said`: it sends SQLite's BEGIN itself, as
    its transaction's kind says (`writes`). Not from a "begin" event: any connection event puts
    every statement of the engine on SQLAlchemy's event path (a new dispatcher joined per
    Connection), ~70 µs of CPU per read here."""

    _autobegun = False

    def _autobegin(self) -> None:
        self._autobegun = True
        try:
            super()._autobegin()
        finally:
            self._autobegun = False

    def _begin_impl(self, transaction: Any) -> None:
        super()._begin_impl(transaction)  # events, if any; pysqlite's do_begin sends nothing
        if self._execution_options.get("isolation_level") == "AUTOCOMMIT":
            return
        dbapi: Any = self.connection.dbapi_connection
        if dbapi.isolation_level is not None:  # a connection the pool reset, or made before this
            dbapi.isolation_level = None
        statement = "BEGIN IMMEDIATE" if self.engine._tsunagu_writes(self) else "BEGIN"  # type: ignore[attr-defined]
        try:
            dbapi.execute(statement)
        except sqlite3.Error as e:  # mapped as any statement's (a busy timeout: SQLAlchemy's OperationalError)
            self._handle_dbapi_exception(e, statement, (), None, None)


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
    """Send SQLite's BEGIN where SQLAlchemy begins: `BEGIN IMMEDIATE` when `writes(conn)`, else
    `BEGIN` (see the module). Other databases: unchanged."""
    if engine.dialect.name != "sqlite" or getattr(engine, "_tsunagu_writes", None) is not None:
        return engine
    engine._tsunagu_writes = writes  # type: ignore[attr-defined]
    engine._connection_cls = _Connection  # SQLAlchemy 2.0's Engine.connect() makes it

    @event.listens_for(engine, "connect")  # a pool event: no cost per statement
    def _driver_autocommit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    return engine
