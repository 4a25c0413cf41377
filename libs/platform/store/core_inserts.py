"""Writing stored events with one SQLAlchemy Core INSERT ... RETURNING id per save (issue 15): the
write half of store/core.py's `CoreEvents`.

`insert_rows` inserts every event of a save in one INSERT ... RETURNING id, in the
library's transaction (its session, its SQLite write lock, its mapping of errors), after the same
`LOCK TABLE ... IN EXCLUSIVE MODE` on PostgreSQL (ids commit in order, TECH-NOTES), sent in one
round trip with the NOTIFY the library sends (its `subscribe()` listens to it), then, under the
lock, the sealed keys' erasure check and the relay chain's head read; with psycopg 3 the events'
INSERT (as literals) goes last in that same round trip. Concurrent saves of a process are grouped
into one such transaction on PostgreSQL (store/group_commit.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy.exc
from eventsourcing.persistence import StoredEvent
from eventsourcing_sqlalchemy.recorders import SQLAlchemyAggregateRecorder
from sqlalchemy import event, insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from libs.platform.store.bulk import bulk, insert_rows, literal_insert, sqlite_insert
from libs.platform.store.db import begin_rides, checkout_unpinged

# The execution option of a statement of several whose every result is wanted: a list, filled with
# the rows of each result (None for a statement without rows) as soon as the driver has them.
RESULTS = "tsunagu_results"


class CoreInserts:
    """The INSERT of one events table, and the PostgreSQL lock, notification and checks sent with it."""

    table: Any

    def __init__(self, recorder: SQLAlchemyAggregateRecorder) -> None:
        t = self.table = recorder.events_record_cls.__table__
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
                # A dialect event, not a connection event (after_cursor_execute was): one of those
                # put every statement of the engine on SQLAlchemy's event path, and every Connection
                # joined a dispatcher of its own (~20 us a checkout and statement, issue 15).
                event.listen(engine, "do_execute_no_params", _every_result)

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
        if bulk(session, rows) or (self.dialect == "sqlite" and len(rows) > 1):
            # A bulk import's save: one statement of arrays on PostgreSQL, the driver's
            # executemany on SQLite (store/bulk.py)
            ids = insert_rows(session, self.table, rows, returning="id" if "id" in self.table.c else None)
            return ids, checked, heads
        if len(rows) == 1 and "id" in self.table.c and \
                (driver := sqlite_insert(session.get_bind().dialect, self.table, tuple(rows[0]), "id")) is not None:
            sql, values = driver  # a command's one event on SQLite: the driver's INSERT ... RETURNING id
            return list(session.connection().exec_driver_sql(sql, values(rows[0])).scalars()), checked, heads
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


def _every_result(cursor: Any, statement: str, context: Any) -> bool:
    """Run a simple query that asks for the rows of every statement (RESULTS), and read them: psycopg
    3 shows the first statement's result, and SQLAlchemy closes the cursor when that one has no
    rows. Any other statement is left to the dialect (False). Errors are SQLAlchemy's to map, as
    the dialect's own execute's."""
    results = context.execution_options.get(RESULTS) if context is not None else None
    if results is None:
        return False
    cursor.execute(statement)
    while True:
        results.append(cursor.fetchall() if cursor.description is not None else None)
        if not cursor.nextset():
            return True


class CheckFailed(Exception):
    """The check sent with an insert's lock found a row (CoreInserts.insert_rows)."""

    def __init__(self, row: Any) -> None:
        super().__init__(row)
        self.row = row
