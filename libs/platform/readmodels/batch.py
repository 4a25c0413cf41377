"""A batch's inserts, held back and written together (issue 15: the reporting rebuild).

A projection applies a batch of events in one transaction. Written as they come, each fact was an
INSERT and each of its tallies an upsert: two or more round trips per event, most of a rebuild's
time on PostgreSQL. Held back, a batch's rows go in one statement per table (store/bulk.py) and
what follows from them (a tally's cells, `then`) in one statement per batch.

Nothing read through `Connection.execute` can read around the buffer. Inside `held(conn)`, any
other statement executed on that connection — a handler reading facts or counts (a void's
retally, a supporter's terms), an UPDATE, the position, the event ids recorded as seen — first
writes what is held (a `before_execute` listener of the connection), so it sees the database as
if every insert had been made at once; the end of the batch writes the rest before the commit. A
failure there fails the batch's transaction like any failed statement (the consumer runner then
applies one message at a time, which names it).
Outside `held`, `insert_row` and `then` write at once. `Connection.exec_driver_sql` fires no
`before_execute` (SQLAlchemy 2.0): a handler must not read through it inside `held`, or it misses
the held rows (the tallies' upsert uses it only inside `write`, after the rows it counts).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Table, bindparam, event
from sqlalchemy.sql.dml import Insert, Update

from libs.platform.store.bulk import insert_rows

_KEY = "tsunagu.held_writes"
# Each table's INSERT, built once: `table.insert().values(row)` built anew per event cost ~150 µs
# of SQLAlchemy coercion and cache-key work (SQLAlchemy 2.0.58); given the row as parameters, the
# statement is compiled once per shape.
_INSERTS: dict[Table, Insert] = {}
_UPDATES: dict[tuple[Table, tuple[str, ...], tuple[str, ...]], Update] = {}
FollowUp = Callable[[Connection, list[Any]], None]


class HeldWrites:
    """The rows of one transaction not written yet, per table in the order given, and the
    follow-ups that read them (called once per batch with every item given for them)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # Per table and set of columns (a row without an optional column is another statement).
        self.rows: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = {}
        self.follow_ups: dict[Hashable, tuple[FollowUp, list[Any]]] = {}

    def write(self) -> None:
        """Insert what is held, table by table in the order first given, then run the follow-ups.
        Taken out of the buffer first: the statements made here do not call it back."""
        rows, self.rows = self.rows, {}
        follow_ups, self.follow_ups = self.follow_ups, {}
        for (table, _), table_rows in rows.items():
            insert_rows(self.conn, table, table_rows)
        for fn, items in follow_ups.values():
            fn(self.conn, items)

    def _before_execute(self, *_: Any) -> None:
        if self.rows or self.follow_ups:
            self.write()


@contextmanager
def held(conn: Connection) -> Iterator[HeldWrites]:
    """Hold `insert_row` and `then` on `conn` until another statement runs on it or the block ends."""
    writes = HeldWrites(conn)
    # The dict itself, not `conn.info` again at the end: after a statement lost the connection (the
    # server ended the session) `conn.info` raises PendingRollbackError, which replaced that error
    # and hid it from the consumer runner's is_transient (h-attack6: counted against the message).
    info = conn.info
    info[_KEY] = writes
    event.listen(conn, "before_execute", writes._before_execute)
    try:
        yield writes
        writes.write()
    finally:
        info.pop(_KEY, None)
        event.remove(conn, "before_execute", writes._before_execute)


def insert_row(conn: Connection, table: Table, row: dict[str, Any]) -> None:
    """Insert one row: held with the batch's other rows of `table` inside `held`, else at once."""
    writes: HeldWrites | None = conn.info.get(_KEY)
    if writes is not None:
        writes.rows.setdefault((table, tuple(row)), []).append(row)
        return
    statement = _INSERTS.get(table)
    if statement is None:
        statement = _INSERTS[table] = table.insert()
    conn.execute(statement, row)


def then(conn: Connection, key: Hashable, fn: FollowUp, item: Any) -> None:
    """`fn(conn, items)` once the held rows are written, with every item given under `key` in the
    batch (at once, with [item], outside `held`)."""
    writes: HeldWrites | None = conn.info.get(_KEY)
    if writes is None:
        fn(conn, [item])
        return
    _, items = writes.follow_ups.setdefault(key, (fn, []))
    items.append(item)


def update_rows(conn: Connection, table: Table, where: dict[str, Any], values: dict[str, Any]) -> None:
    """UPDATE the rows whose columns equal `where` to `values`, with the statement built once per
    table and columns (as `insert_row`; bind parameters of an UPDATE must not be named like a
    column: `b_` names). Inside `held`, what is held is written first, as before any statement."""
    key = (table, tuple(where), tuple(values))
    statement = _UPDATES.get(key)
    if statement is None:
        statement = _UPDATES[key] = table.update().where(
            *(table.c[c] == bindparam(f"b_w_{c}") for c in where)).values({c: bindparam(f"b_{c}") for c in values})
    conn.execute(statement, {**{f"b_w_{c}": v for c, v in where.items()}, **{f"b_{c}": v for c, v in values.items()}})
