"""Reading and writing stored events with SQLAlchemy Core statements built once (issue 15).

eventsourcing-sqlalchemy reads an aggregate's events (and its snapshot) with an ORM `Query` and
writes them by adding ORM objects to its session and flushing: per command, a profile of 600
sequential consultations on SQLite put ~6% of all GIL time in building and compiling those
queries, loading ORM objects and the unit of work's flush. The same statements in Core are built
once (SQLAlchemy caches their compiled form) and return plain rows:

- `select_events` runs one SELECT on a connection of its own, in autocommit on PostgreSQL (one
  statement needs no transaction: no BEGIN/ROLLBACK round trip), unless a transaction of the
  library is open on this thread (a read inside a save), which it then joins as before.
- the save's INSERT of its events (with, on PostgreSQL, the table's lock, the NOTIFY and the
  checks in the same round trip) is store/core_inserts.py's `CoreInserts`, which `CoreEvents` is.

Errors are the library's (`eventsourcing.persistence.IntegrityError`, ...) as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing_sqlalchemy.datastore import exception_classes, transactions
from eventsourcing_sqlalchemy.recorders import SQLAlchemyAggregateRecorder
from sqlalchemy import Engine, Integer, and_, bindparam, func, or_, select
from sqlalchemy.engine import Connection

from libs.platform.store.core_inserts import CoreInserts
from libs.platform.store.db import read_unpinged

R = TypeVar("R")


class CoreEvents(CoreInserts):
    """The statements of one events (or snapshots) table, and running them: the reads here, the
    save's INSERT in store/core_inserts.py."""

    def __init__(self, recorder: SQLAlchemyAggregateRecorder) -> None:
        super().__init__(recorder)
        self.recorder = recorder
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
        again when the connection is dead: store/db.read_unpinged); inside a transaction of the
        library's (a write-locked attempt: store/commuting.py), in it, which sees its own writes."""
        engine = self.recorder.datastore.engine
        assert isinstance(engine, Engine)
        try:
            if (session := _transaction_session()) is not None and session.bind is engine:
                return read(session.connection())
            return read_unpinged(engine, read)
        except sqlalchemy.exc.SQLAlchemyError as e:  # as the library's transactions map them
            raise exception_classes.get(type(e).__name__, PersistenceError)(e) from e


def _transaction_session() -> Any:
    """The session of the library's transaction open in this context, if any."""
    try:
        return transactions.get().session
    except LookupError:
        return None


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
