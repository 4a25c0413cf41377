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

**Writers of one process queue on a lock, not in SQLite's busy handler** (h-http3). A `BEGIN
IMMEDIATE` that finds the write lock taken retries in SQLite's busy handler, which sleeps 1, 2, 5,
10, 15, 20, 25, 25, 25, 50, 50, 100 ms between tries: it gets the lock up to that long after it was
freed. The writers of a service (its requests' saves, the relay's records, each log follower's
batches) are threads of one process on one file: measured with one client on intake, a third of
the saves' BEGINs waited over 1 ms (p99 8.7 ms, max 80) and the loops' p50 1.3 ms, p90 19 ms, for
a lock held ~2-3 ms at a time (its WAL sync included). So a write transaction first takes the file's
lock in this process (`writers_lock`, by the file's real path; every engine of that file here), held
until its COMMIT or ROLLBACK: the next writer starts the moment it is released. A connection given
back to the pool still holding it (a Connection dropped without close: the pool rolls its
transaction back) frees it at its checkin. Other processes on the file still meet in the busy
handler, as before. A writer's waits on the lock and in the busy handler add up to the busy
timeout at most (`WAIT`), as its BEGIN's wait alone did before the lock: one that waited on the lock
for a while sends its BEGIN with what is left of it (`_begin_within`; h-attack1: a writer queued behind
one that waited out the busy timeout on another process's write lock then waited it out again, 60 s
instead of 30 before failing). One that waited for the lock the whole busy timeout (a stuck
transaction) tries its BEGIN once, and fails as it did.

**A write transaction begun by the thread that holds the lock fails at once** (`WriteWithinWrite`):
it would wait for itself — the whole busy timeout, then fail — since the lock is freed only by the
outer transaction's end, on this thread. A programming error (e.g. making a subject's key inside a
locked attempt, store/commuting.py), named where it happens instead of after 30 s. A transaction of the
thread dropped without close holds the lock until the collector finalizes its Connection (a
reference cycle): the thread runs the collector once before it calls a begin nested (h-attack8).

**A write transaction of the loops skips its WAL sync** (store/rederivable.py): given the NO_SYNC
execution option, its connection is put in `synchronous = NORMAL` before its BEGIN (SQLite refuses
the change inside a transaction: "Safety level may not be changed inside a transaction") and back
to the level it had at checkin.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from eventsourcing_sqlalchemy.datastore import transactions
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

Writes = Callable[[Connection], bool]
_HELD = "tsunagu_writers_held"  # the key of a pooled connection's info holding its transaction's _Held
# An execution option: this connection's write transaction commits without its WAL sync (synchronous
# = NORMAL, store/rederivable.py); the level it had is kept under _SYNC and put back at checkin.
NO_SYNC = "tsunagu_no_sync"
_SYNC = "tsunagu_synchronous"
WAIT = 30.0  # seconds: the busy timeout of the services' SQLite engines (store/db.py)
QUEUED = 0.05  # seconds: a wait on the writers' lock past which the BEGIN gets only what is left of WAIT


class WriteWithinWrite(RuntimeError):
    """A write transaction begun on a SQLite file by the thread whose write transaction on it is open."""


class WritersLock:
    """A SQLite file's lock for this process's write transactions, knowing the thread that took it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def acquire(self, timeout: float) -> bool:
        if self._owner == threading.get_ident():
            # Or a transaction of this thread dropped without close: its Connection is in a reference
            # cycle (with its transaction), so only the collector finalizes it (a rollback, then the
            # pool's checkin frees the lock). Collected now, once, on this rare path; else a nesting.
            gc.collect()
        if self._owner == threading.get_ident():
            raise WriteWithinWrite("a write transaction begun inside one of this thread on the same SQLite "
                                   "file: it would wait for itself (see store/sqlite_begin.py)")
        if not self._lock.acquire(timeout=timeout):
            return False
        self._owner = threading.get_ident()
        return True

    def release(self) -> None:  # by whichever thread ends the transaction (or the pool's checkin)
        self._owner = None
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()


_writers: dict[str, WritersLock] = {}  # a SQLite file's lock for this process's write transactions
_writers_lock = threading.Lock()


def writers_lock(path: str) -> WritersLock:
    """The lock of this process's write transactions on the SQLite file at `path` (see the module)."""
    key = os.path.realpath(path)
    with _writers_lock:
        return _writers.setdefault(key, WritersLock())


class _Connection(Connection):
    """A Connection of an engine given to `begin_where_said`: it sends SQLite's BEGIN itself, as
    its transaction's kind says (`writes`). Not from a "begin" event: any connection event puts
    every statement of the engine on SQLAlchemy's event path (a new dispatcher joined per
    Connection), ~70 µs of CPU per read here."""

    _autobegun = False
    _writing: _Held | None = None  # the file's writers' lock this transaction holds

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
        writes = self.engine._tsunagu_writes(self)  # type: ignore[attr-defined]
        statement = "BEGIN IMMEDIATE" if writes else "BEGIN"
        lock: WritersLock | None = self.engine._tsunagu_writers if writes else None  # type: ignore[attr-defined]
        if writes and self._execution_options.get(NO_SYNC) and _SYNC not in self.connection.info:
            (level,), = dbapi.execute("PRAGMA synchronous").fetchall()  # refused inside a transaction
            dbapi.execute("PRAGMA synchronous = NORMAL")
            self.connection.info[_SYNC] = int(level)
        waited = 0.0
        if lock is not None:
            started = time.monotonic()
            if lock.acquire(timeout=WAIT):
                # Also on the pooled connection's record: freed at its checkin if not before (begin_where_said).
                self._writing = self.connection.info[_HELD] = _Held(lock)
            waited = time.monotonic() - started
        try:
            if waited > QUEUED:
                _begin_within(dbapi, statement, WAIT - waited)
            else:
                dbapi.execute(statement)
        except sqlite3.Error as e:  # mapped as any statement's (a busy timeout: SQLAlchemy's OperationalError)
            self._done_writing()
            self._handle_dbapi_exception(e, statement, (), None, None)
        except BaseException:
            self._done_writing()
            raise

    def _commit_impl(self) -> None:
        try:
            super()._commit_impl()
        finally:
            self._done_writing()

    def _rollback_impl(self) -> None:
        try:
            super()._rollback_impl()
        finally:
            self._done_writing()

    def close(self) -> None:
        try:
            super().close()  # rolls back a transaction left open
        finally:
            self._done_writing()

    def _done_writing(self) -> None:
        held, self._writing = self._writing, None
        if held is not None:
            held.release()


def _begin_within(dbapi: Any, statement: str, left: float) -> None:
    """`statement` (a BEGIN) with SQLite's busy handler waiting `left` seconds at most (none: one
    try), the connection's busy timeout restored after it (see the module)."""
    (timeout,), = dbapi.execute("PRAGMA busy_timeout").fetchall()
    dbapi.execute(f"PRAGMA busy_timeout = {max(0, min(int(timeout), int(left * 1000)))}")
    try:
        dbapi.execute(statement)
    finally:
        dbapi.execute(f"PRAGMA busy_timeout = {int(timeout)}")


class _Held:
    """A writers' lock taken by one transaction, released once by whichever comes first: its end,
    or its pooled connection's checkin."""

    def __init__(self, lock: WritersLock) -> None:
        self._lock: WritersLock | None = lock

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()


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
    # A file's writers queue in this process (see the module); an in-memory database has one connection.
    database = engine.url.database
    on_file = bool(database) and database != ":memory:" and not str(database).startswith("file:")
    engine._tsunagu_writers = writers_lock(str(database)) if on_file else None  # type: ignore[attr-defined]
    engine._connection_cls = _Connection  # SQLAlchemy 2.0's Engine.connect() makes it

    @event.listens_for(engine, "connect")  # a pool event: no cost per statement
    def _driver_autocommit(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "checkin")  # a pool event too
    def _free_writers(dbapi_conn: Any, record: Any) -> None:
        held = record.info.pop(_HELD, None)
        if held is not None:
            held.release()
        level = record.info.pop(_SYNC, None)
        if level is not None and dbapi_conn is not None:  # the next user's commits sync again
            try:
                dbapi_conn.execute(f"PRAGMA synchronous = {int(level)}")
            except sqlite3.Error as e:  # not known to sync: never handed out again
                record.invalidate(e)

    return engine
