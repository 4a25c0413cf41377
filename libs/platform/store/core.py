"""Reading and writing stored events with SQLAlchemy Core statements built once (issue 15).

eventsourcing-sqlalchemy reads an aggregate's events (and its snapshot) with an ORM `Query` and
writes them by adding ORM objects to its session and flushing: per command, a profile of 600
sequential consultations on SQLite put ~6% of all GIL time in building and compiling those
queries, loading ORM objects and the unit of work's flush. The same statements in Core are built
once (SQLAlchemy caches their compiled form) and return plain rows:

- `select_events` runs one SELECT on a connection of its own, in autocommit on PostgreSQL (one
  statement needs no transaction: no BEGIN/ROLLBACK round trip), unless a transaction of the
  library is open on this thread (a read inside a save), which it then joins as before.
- `_insert_stored_events` inserts every event of a save in one INSERT ... RETURNING id, in the
  library's transaction (its session, its SQLite write lock, its mapping of errors), after the
  same `LOCK TABLE ... IN EXCLUSIVE MODE` on PostgreSQL (ids commit in order, TECH-NOTES), sent in
  one round trip with the NOTIFY the library sends (its `subscribe()` listens to it), then, under
  the lock, the sealed keys' erasure check and the relay chain's head read; with psycopg 3 the
  events' INSERT (as literals) goes last in that same round trip. Concurrent saves of a process are
  grouped into one such transaction on PostgreSQL (store/group_commit.py).

Errors are the library's (`eventsourcing.persistence.IntegrityError`, ...) as before.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing_sqlalchemy.datastore import exception_classes, transactions
from eventsourcing_sqlalchemy.recorders import SQLAlchemyAggregateRecorder
from sqlalchemy import Engine, Integer, and_, bindparam, event, func, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from libs.platform.store.bulk import bulk, insert_rows, literal_insert
from libs.platform.store.db import begin_rides, checkout_unpinged, read_unpinged

R = TypeVar("R")
# The execution option of a statement of several whose every result is wanted: a list, filled with
# the rows of each result (None for a statement without rows) as soon as the driver has them.
RESULTS = "tsunagu_results"


class CoreEvents:
    """The statements of one events (or snapshots) table, and running them."""

    def __init__(self, recorder: SQLAlchemyAggregateRecorder) -> None:
        self.recorder = recorder
        self.table = recorder.events_record_cls.__table__
        t = self.table
        columns = (t.c.originator_id, t.c.originator_version, t.c.topic, t.c.state)
        by_id = select(*columns).where(t.c.originator_id == bindparam("originator_id"))
        version = t.c.originator_version
        # One statement per shape the library asks for (gt, lte, desc, limit), built on first use.
        self._base = by_id
        self._selects: dict[tuple[bool, bool, bool, bool], Any] = {}
        self._gt: Any = bindparam("gt")
        self._lte: Any = bindparam("lte")
        self._version = version
        self._after_many: dict[int, Any] = {}  # select_after's statement of each size
        self._latest: Any = None
        self._created: Any = None
        self.insert = insert(t).returning(t.c.id, sort_by_parameter_order=True) if "id" in t.c else insert(t)
        engine = recorder.datastore.engine
        self.channel: str | None = None
        self.dialect = engine.dialect.name if engine is not None else ""
        self.driver = engine.dialect.driver if engine is not None else ""
        if self.dialect == "postgresql":
            name = recorder.events_table_name if recorder.schema_name is None else \
                f"{recorder.schema_name}.{recorder.events_table_name}"
            self.channel = name.replace('.', '_')  # what a worker replica LISTENs to (store/listen.py)
            self.name = name
            # The payload says which writer committed: a replica's listener ignores its own writer's
            # notifications (its commit signal rang already), which would wake its loops twice.
            self.origin = secrets.token_hex(8)
            self.lock_and_notify = f"LOCK TABLE {name} IN EXCLUSIVE MODE; NOTIFY {self.channel}, '{self.origin}'"
            if engine is not None and engine.dialect.driver == "psycopg":
                event.listen(engine, "after_cursor_execute", _every_result)

    def _select(self, gt: bool, lte: bool, desc: bool, limit: bool) -> Any:
        shape = (gt, lte, desc, limit)
        query = self._selects.get(shape)
        if query is None:
            query = self._base
            if gt:
                query = query.where(self._version > self._gt)
            if lte:
                query = query.where(self._version <= self._lte)
            query = query.order_by(self._version.desc() if desc else self._version)
            if limit:
                query = query.limit(bindparam("limit", type_=Integer))
            self._selects[shape] = query
        return query

    def usable(self) -> bool:
        """Core only on a pooled engine of the datastore's own: not with an in-memory SQLite (one
        connection behind the library's access lock) or a scoped session given from outside."""
        datastore = self.recorder.datastore
        return isinstance(datastore.engine, Engine) and datastore.access_lock is None \
            and datastore.scoped_session is None

    def select(self, originator_id: UUID | str, gt: int | None, lte: int | None, desc: bool,
               limit: int | None) -> list[StoredEvent]:
        query = self._select(gt is not None, lte is not None, desc, limit is not None)
        params: dict[str, Any] = {"originator_id": originator_id}
        if gt is not None:
            params["gt"] = gt
        if lte is not None:
            params["lte"] = lte
        if limit is not None:
            params["limit"] = limit
        rows = self._read(lambda conn: conn.execute(query, params).all())
        return [StoredEvent(originator_id=r[0], originator_version=r[1], topic=r[2],
                            state=bytes(r[3]) if isinstance(r[3], memoryview) else r[3]) for r in rows]

    def select_after(self, after: dict[UUID, int]) -> dict[UUID, list[StoredEvent]]:
        """The events of many aggregates after a version of each (a batch load): one statement,
        `(id = :i AND version > :v) OR ...`, padded to a power of two of terms (a few shapes to
        compile and cache), in each aggregate's version order."""
        pairs = list(after.items())
        size = 1 << max(len(pairs) - 1, 0).bit_length()
        pairs += [pairs[-1]] * (size - len(pairs))
        query = self._after_many.get(size)
        if query is None:
            t = self.table
            terms = [and_(t.c.originator_id == bindparam(f"i{k}", type_=t.c.originator_id.type),
                          t.c.originator_version > bindparam(f"v{k}", type_=Integer)) for k in range(size)]
            query = self._after_many[size] = select(t.c.originator_id, t.c.originator_version, t.c.topic,
                                                    t.c.state).where(or_(*terms)).order_by(t.c.originator_version)
        params: dict[str, Any] = {}
        for k, (originator_id, version) in enumerate(pairs):
            params[f"i{k}"], params[f"v{k}"] = originator_id, version
        out: dict[UUID, list[StoredEvent]] = {i: [] for i in after}
        for r in self._read(lambda conn: conn.execute(query, params).all()):
            out[r[0]].append(StoredEvent(originator_id=r[0], originator_version=r[1], topic=r[2],
                                         state=bytes(r[3]) if isinstance(r[3], memoryview) else r[3]))
        return out

    def select_latest(self, originator_ids: list[UUID]) -> list[StoredEvent]:
        """The last record (snapshot) of each of these aggregates that has one: one statement."""
        if self._latest is None:
            t, inner = self.table, self.table.alias()
            self._latest = select(t.c.originator_id, t.c.originator_version, t.c.topic, t.c.state).where(
                t.c.originator_id.in_(bindparam("ids", expanding=True)),
                t.c.originator_version == select(func.max(inner.c.originator_version)).where(
                    inner.c.originator_id == t.c.originator_id).scalar_subquery())
        rows = self._read(lambda conn: conn.execute(self._latest, {"ids": originator_ids}).all())
        return [StoredEvent(originator_id=r[0], originator_version=r[1], topic=r[2],
                            state=bytes(r[3]) if isinstance(r[3], memoryview) else r[3]) for r in rows]

    def select_created(self, originator_ids: list[UUID]) -> list[StoredEvent]:
        """The created event (version 1) of each of these aggregates that has one: one statement."""
        if self._created is None:
            t = self.table
            self._created = select(t.c.originator_id, t.c.originator_version, t.c.topic, t.c.state).where(
                t.c.originator_id.in_(bindparam("ids", expanding=True)), t.c.originator_version == 1)
        rows = self._read(lambda conn: conn.execute(self._created, {"ids": originator_ids}).all())
        return [StoredEvent(originator_id=r[0], originator_version=r[1], topic=r[2],
                            state=bytes(r[3]) if isinstance(r[3], memoryview) else r[3]) for r in rows]

    def _read(self, read: Callable[[Connection], R]) -> R:
        """`read` on a connection of its own, in autocommit on PostgreSQL, not pinged first (run
        again when the connection is dead: store/db.read_unpinged)."""
        engine = self.recorder.datastore.engine
        assert isinstance(engine, Engine)
        try:
            return read_unpinged(engine, read)
        except sqlalchemy.exc.SQLAlchemyError as e:  # as the library's transactions map them
            raise exception_classes.get(type(e).__name__, PersistenceError)(e) from e

    def insert_rows(self, session: Session, stored_events: Sequence[StoredEvent],
                    check: Callable[[], str | None] | None = None,
                    head: Callable[[str], str | None] | None = None) -> tuple[list[int], bool, list[Any] | None]:
        """Insert the events in the session's transaction (after locking the table on PostgreSQL);
        their new ids, in the order given, whether `check` was run, and the rows of `head` (None: not
        run). On PostgreSQL with psycopg 3 both go in the lock's round trip, after the lock, as
        queries of literals only: `check()` (or None), a row from it fails the save (CheckFailed,
        rolled back); `head(table)`, which reads the table as no other writer can change it until
        this transaction ends (the relay chain's head: messaging/outbox.Outbox.head_query).
        The check after the lock, not before: sent before, it read the erasure log as it was when
        the save began to wait for the lock, and an erasure committed during that wait (another
        replica's, of a subject this save sealed for) was missed: the save stored values sealed
        under the destroyed key and answered 201 (test_erasure_during_the_saves_lock_wait.py)."""
        checked = False
        heads: list[Any] | None = None
        if self.dialect == "postgresql":
            # The library's LOCK TABLE and NOTIFY, one round trip (sent without parameters, so the
            # driver takes several statements), through SQLAlchemy so a failure is mapped like any other.
            psycopg3 = self.driver == "psycopg"
            query = check() if check is not None and psycopg3 else None
            after = head(self.name) if head is not None and psycopg3 else None
            # The events' INSERT goes in that round trip too, last (as literals: a simple query of
            # several statements takes no parameters): the table's lock is held one round trip and
            # one wake-up of this thread less (issue 15: 8 clients queue on it). A bulk import's keeps
            # its statement of arrays.
            rows = _rows(stored_events)
            inline = psycopg3 and bool(rows) and "id" in self.table.c and not bulk(session, rows)
            tail = (lambda conn: literal_insert(conn, self.table, rows, _RETURNED)) if inline else None
            statements = [q for q in (self.lock_and_notify, query, after) if q is not None]
            results = self._first_statement(session, "; ".join(statements), tail)
            if query is not None:
                checked = True
                if found := results[2]:  # after the LOCK's and the NOTIFY's
                    raise CheckFailed(found[0])
            if after is not None:  # after the LOCK's, the NOTIFY's and the check's
                heads = results[3 if query is not None else 2]
            if inline:
                return _ids_in_order(stored_events, results[-1]), checked, heads
        if not stored_events:  # a tracked position with no new events (a message that changes nothing)
            return [], checked, heads
        rows = _rows(stored_events)
        if bulk(session, rows):  # a bulk import's save: one statement of arrays (store/bulk.py)
            ids = insert_rows(session, self.table, rows, returning="id" if "id" in self.table.c else None)
            return ids, checked, heads
        result = session.execute(self.insert, rows)
        return (list(result.scalars()) if "id" in self.table.c else []), checked, heads

    def _first_statement(self, session: Session, statement: str,
                         tail: Callable[[Connection], str] | None = None) -> list[Any]:
        """Run the save's first statement (its LOCK) on a connection checked out without a ping
        (issue 15: the ping was a round trip of every save); the rows of each of its results. When
        the connection turns out dead (it died in the pool: a restart, a failover,
        pg_terminate_backend), this transaction had sent nothing before, and what the statement did
        ends with the connection, uncommitted: the session lets it go and the statement runs again
        on another connection, pinged at its checkout. A connection the session held already (a
        tracked save's earlier statements) is not run again: its failure fails the save as before."""
        connection, unpinged = checkout_unpinged(session.connection)
        for attempt in (1, 2):
            results: list[Any] = []
            options = {"no_parameters": True, RESULTS: results}
            rides = self.driver == "psycopg" and begin_rides(connection)  # store/db.py: no BEGIN of its own
            sql = f"{statement}; {tail(connection)}" if tail is not None else statement
            try:
                connection.exec_driver_sql(f"BEGIN; {sql}" if rides else sql, execution_options=options).close()
                return results[1:] if rides else results
            except sqlalchemy.exc.DBAPIError as e:
                # Run again only where nothing else would be lost: rolling back the session also
                # drops the ORM objects it holds (none today: every save runs its statements here).
                if attempt == 2 or not (unpinged and e.connection_invalidated) or \
                        session.new or session.dirty or session.deleted:
                    raise
            session.rollback()  # the dead connection's transaction; the library commits the next one
            connection = session.connection()
        raise AssertionError("unreachable")


_RETURNED = ("id", "originator_id", "originator_version")


def _rows(stored_events: Sequence[StoredEvent]) -> list[dict[str, Any]]:
    return [{"originator_id": e.originator_id, "originator_version": e.originator_version,
             "topic": e.topic, "state": e.state} for e in stored_events]


def _ids_in_order(stored_events: Sequence[StoredEvent], returned: Sequence[Any]) -> list[int]:
    """The new ids of the stored events, in their order, from the rows `_RETURNED` names."""
    ids = {(str(originator_id), version): id_ for id_, originator_id, version in returned}
    return [ids[(str(e.originator_id), e.originator_version)] for e in stored_events]


def _every_result(_conn: Any, cursor: Any, _statement: str, _parameters: Any, context: Any, _many: bool) -> None:
    """The rows of every statement of a simple query that asked for them (RESULTS): psycopg 3 shows
    the first statement's result, and SQLAlchemy closes the cursor when that one has no rows."""
    results = context.execution_options.get(RESULTS) if context is not None else None
    if results is None or results:  # not asked for, or read already
        return
    while True:
        results.append(cursor.fetchall() if cursor.description is not None else None)
        if not cursor.nextset():
            return


class CheckFailed(Exception):
    """The check sent with an insert's lock found a row (CoreEvents.insert_rows)."""

    def __init__(self, row: Any) -> None:
        super().__init__(row)
        self.row = row


def in_transaction() -> bool:
    """Whether a transaction of the library is open in this context (a read inside a save)."""
    try:
        transactions.get()
    except LookupError:
        return False
    return True


class CoreSnapshotRecorder(SQLAlchemyAggregateRecorder):
    """The snapshots' recorder, reading with Core (writes stay the library's: a snapshot is taken
    now and then, after the save that committed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.core = CoreEvents(self)

    def select_events(self, originator_id: UUID | str, gt: int | None = None, lte: int | None = None,
                      desc: bool = False, limit: int | None = None) -> list[StoredEvent]:
        if in_transaction() or not self.core.usable():
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        return self.core.select(originator_id, gt, lte, desc, limit)
