"""The creations ledger: every resource a command creates, and the Idempotency-Key it came with.

A row per created resource (a case, a consultation inside a case, a referral, ...) names the
aggregate that holds it and the version that created it, and, when the client sent an
Idempotency-Key, the keyed digest of the key (unique) and of the request. The row is written in
the same transaction as the events (`LedgerRecorder`: the recorder's own session), so a resource
and its ledger row exist together or not at all, and two requests racing with one key cannot both
write: the loser's transaction fails on the unique key and finds the winner's row.

Why a table and not the aggregate's state: a case kept every consultation and every key digest,
so its snapshot, and the cost of loading it, grew with its history (issue 15). The ledger answers
"was this key used, for what, on which resource" by an index lookup, whatever the history.

Digests are keyed (contracts.idempotency_digest, the service's secret): a client may put a name in
a key, and a request body holds personal data; neither can be confirmed from the table by guessing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking
from eventsourcing.popo import POPOProcessRecorder
from eventsourcing_sqlalchemy.recorders import SQLAlchemyProcessRecorder
from sqlalchemy import Engine, Select, Table, bindparam, select
from sqlalchemy.orm import Session

from libs.platform.privacy.sealed_values import SubjectForgotten
from libs.platform.store.bulk import insert_all
from libs.platform.store.core import CoreEvents, in_transaction
from libs.platform.store.core_inserts import CheckFailed
from libs.platform.store.db import commit_rides, read_unpinged
from libs.platform.store.group_commit import GroupCommit
from libs.platform.store.ledger_rows import Creation, IdempotencyKeyReused, LedgerRow, creations_table

__all__ = ["DOMAIN_KWARG", "RELAY_RENDERS_KWARG", "SAVE_KWARG", "SEALED_KWARG", "Creation", "IdempotencyKeyReused",
           "Ledger", "LedgerRecorder", "LedgerRow", "MemoryLedgerRecorder", "SaveWrites", "creations_table"]

# The kwarg of Application.save() that carries ledger rows down to the recorder.
SAVE_KWARG = "creations"
# The kwarg that carries the domain events of the save, in the order of its stored events (the
# relay's outbox renders them from memory: messaging/outbox.Outbox.prepare).
DOMAIN_KWARG = "in_memory_events"  # not "domain_events": EventStore.put takes that name
# The kwarg that carries the subject keys (privacy/sealed_values.SubjectKeys) the saved values were sealed
# with: the recorder checks in the save's transaction that none was forgotten since.
SEALED_KWARG = "sealed_with"
# The kwarg of a save whose messages the relay renders itself (a bulk import, issue 15): no message
# is prepared in its transaction (messaging/outbox.py), so the request does not pay for 500 chain
# hashes and Ed25519 signatures; the relay renders every event without a prepared row anyway.
RELAY_RENDERS_KWARG = "relay_renders"


class Ledger:
    """Reads of the ledger, from the recorder that writes it with the events (SQL or, in unit
    tests, in memory)."""

    def __init__(self, recorder: LedgerRecorder | MemoryLedgerRecorder) -> None:
        self.recorder = recorder

    def of_key(self, creation: Creation) -> LedgerRow | None:
        """The resource first created with this creation's key; refused (422) when that request
        was another one."""
        if creation.key_digest is None:
            return None
        row = self.recorder.ledger_row("key_digest", creation.key_digest, aggregate_id=None)
        if row is not None and row.request_digest is None:
            # Its person's data was erased, and the digest of the request with it: whether this is
            # the same request can no longer be told. Answering the erased resource would drop a
            # new request's data silently; refused, the client can GET what the key made.
            raise IdempotencyKeyReused(
                f"this Idempotency-Key created {creation.kind} {row.resource_id}, whose personal data was "
                "erased since; send a new key for a new request", resource_id=row.resource_id)
        if row is not None and row.request_digest != creation.request_digest:
            raise IdempotencyKeyReused(
                f"this Idempotency-Key created {creation.kind} {row.resource_id} with another request; "
                "send a new key for a new request", resource_id=row.resource_id)
        return row

    def of_resource(self, resource_id: UUID | str, aggregate_id: UUID | str) -> LedgerRow | None:
        return self.recorder.ledger_row("resource_id", str(resource_id), aggregate_id=str(aggregate_id))

    def of_kind(self, kind: str, resource_id: UUID | str) -> LedgerRow | None:
        """The row of a resource known by its id alone (a 修了番号's: which aggregate holds it is
        what the caller asks), an index lookup however many were created."""
        return self.recorder.ledger_row("resource_id", str(resource_id), aggregate_id=None, kind=kind)

    def forget_requests(self, subject: UUID | str) -> None:
        """Erasure: drop the request digests of what was created in or as the subject's aggregate.
        A digest is keyed, but it still fits the request's personal data: whoever holds the
        service's secret could test a guessed name against it after the data's key is destroyed.
        The key digests stay: a late retry with the key is refused (422) with the resource's id."""
        self.recorder.forget_requests(str(subject))


# What else a save writes in its transaction, given the session, the events' table, the stored
# events and their new positions (the relay's outbox: messaging/outbox.Outbox.prepare), and the
# domain events stored as them when the save passed them, and the save's `SaveWrites`; whether it
# rendered, and so measured, every event's message.
AfterInsert = Callable[[Session, Any, Sequence[Any], Sequence[int], Sequence[Any] | None, "SaveWrites"], bool]
# A query of literals only, given the events' table name, run right after the save's LOCK TABLE in
# the same round trip (PostgreSQL with psycopg 3: store/core_inserts.CoreInserts.insert_rows); None: none.
ChainHead = Callable[[str], str | None]


@dataclass
class SaveWrites:
    """What a save's transaction read under its lock for, and writes after, its events: the rows of
    the recorder's `head_query` (None: not read), and the rows to insert, table by table, sent
    together at the end of the save (store/bulk.insert_all: one round trip on PostgreSQL)."""

    heads: list[Any] | None = None
    inserts: list[tuple[Table, Sequence[dict[str, Any]]]] = field(default_factory=list)


class LedgerRecorder(SQLAlchemyProcessRecorder):
    """The process recorder of every service: the events, then, in the same session (the save's
    transaction), the ledger rows passed to save(creations=[...]) and whatever `after_insert`
    writes (the relay's outbox). The one place a save's transaction is extended. Events are read
    and written with Core statements built once (store/core.py says why)."""

    def __init__(self, datastore: Any, *, events_table_name: str, tracking_table_name: str,
                 schema_name: str | None = None) -> None:
        super().__init__(datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name,
                         schema_name=schema_name)
        self.creations = creations_table(events_table_name.removesuffix("_events"))
        self._reads: dict[tuple[str, bool, bool], Select[Any]] = {}  # ledger_row's statements
        self.after_insert: AfterInsert | None = None
        self.head_query: ChainHead | None = None  # read under the lock for after_insert (the outbox)
        # The size check of what after_insert did not render (ServiceApplication sets it).
        # Given the stored events and, when the save passed them, the domain events stored as them.
        self.check_sizes: Callable[[Sequence[StoredEvent], Sequence[Any] | None], None] | None = None
        self.core = CoreEvents(self)
        # Concurrent saves in one transaction (store/group_commit.py): where a COMMIT waits for a
        # flush under the events table's lock (PostgreSQL, psycopg 3), or under the database's
        # single write lock (a SQLite file).
        grouped = self.core.dialect == "sqlite" or (self.core.dialect == "postgresql" and self.core.driver == "psycopg")
        self.group = GroupCommit(self._insert_alone) if grouped and self.core.usable() else None

    def insert_events(self, stored_events: Sequence[StoredEvent], *, session: Session | None = None,
                      **kwargs: Any) -> Sequence[int] | None:
        group = self.group
        if group is not None and session is None and group.joins(stored_events, kwargs):
            return group.insert(stored_events, kwargs)
        return super().insert_events(stored_events, session=session, **kwargs)

    def _insert_alone(self, stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> Sequence[int]:
        ids = super().insert_events(stored_events, **kwargs)
        assert ids is not None
        return ids

    def create_table(self) -> None:
        super().create_table()
        assert self.datastore.engine is not None
        self.creations.metadata.create_all(self.datastore.engine)

    def select_events(self, originator_id: UUID | str, gt: int | None = None, lte: int | None = None,
                      desc: bool = False, limit: int | None = None) -> list[StoredEvent]:
        if in_transaction() or not self.core.usable():
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        return self.core.select(originator_id, gt, lte, desc, limit)

    def _insert_stored_events(self, session: Session, stored_events: Sequence[Any], **kwargs: Any) -> Sequence[int]:
        keys = kwargs.get(SEALED_KWARG)
        checked = False
        ids: Sequence[int]
        heads: list[Any] | None = None
        prepare = self.after_insert if not kwargs.get(RELAY_RENDERS_KWARG) else None
        if self.core.usable():
            # On PostgreSQL the sealed keys' check is sent with the table lock, after it, no round trip
            # of its own: it sees every erasure committed before the lock was granted, and holds
            # off every later one until this save ends (SubjectKeys says how).
            try:
                ids, checked, heads = self.core.insert_rows(
                    session, stored_events, keys.inline_check if keys else None,
                    self.head_query if stored_events and prepare is not None else None)
            except CheckFailed as refused:
                raise SubjectForgotten(f"subject {refused.row[0]} was erased") from None
        else:
            ids = super()._insert_stored_events(session, stored_events, **kwargs)
        writes = SaveWrites(heads)
        rows: Sequence[LedgerRow] = kwargs.get(SAVE_KWARG) or ()
        if rows:
            # After the events (and, on PostgreSQL, their table lock): a key raced by another
            # request fails on the unique index, and the whole save with it.
            writes.inserts.append((self.creations, [dict(vars(r)) for r in rows]))  # asdict deep-copied each value
        if keys is not None and not checked:
            keys.check(session)  # after the events: on SQLite, with the write lock held
        measured = bool(ids) and prepare is not None and \
            prepare(session, self.events_record_cls.__table__, stored_events, ids, kwargs.get(DOMAIN_KWARG), writes)
        if not measured and stored_events and self.check_sizes is not None:
            self.check_sizes(stored_events, kwargs.get(DOMAIN_KWARG))
        insert_all(session, writes.inserts, commit=commit_rides(session))
        return ids

    def _insert_tracking(self, session: Session, tracking: Tracking) -> None:
        """The upstream position of a tracked save, written first and only forward: one UPDATE of
        the row behind it, else a refusal when the row is at or past it, else the first row (a
        racing first insert fails on the key). The library read the recorded position, then wrote
        it: nothing held the row between the two (PostgreSQL: read committed, no lock), so two
        savers of one position — a replica whose lease moved on and the new holder, or two
        processes on one SQLite file — both applied it (test_sqlite_begin.py). Written first, the
        second waits for the first's row lock (SQLite: its write lock), then finds the row moved."""
        t, upstream, position = self.tracking_table, tracking.application_name, tracking.notification_id
        conn = session.connection()  # the save's transaction
        if conn.execute(t.update().where(t.c.application_name == upstream, t.c.notification_id < position)
                        .values(notification_id=position)).rowcount:
            return
        if conn.execute(select(t.c.notification_id).where(t.c.application_name == upstream)).first() is not None:
            raise IntegrityError(f"{upstream}: position {position} was recorded already")
        conn.execute(t.insert().values(application_name=upstream, notification_id=position))

    def forget_requests(self, subject: str) -> None:
        engine = self.datastore.engine
        assert isinstance(engine, Engine)
        c = self.creations.c
        with engine.begin() as conn:
            conn.execute(self.creations.update().where((c.aggregate_id == subject) | (c.resource_id == subject))
                         .values(request_digest=None))

    def ledger_row(self, column: str, value: str, *, aggregate_id: str | None,
                   kind: str | None = None) -> LedgerRow | None:
        engine = self.datastore.engine
        assert isinstance(engine, Engine)
        shape = (column, aggregate_id is not None, kind is not None)
        if (query := self._reads.get(shape)) is None:
            # Built once per shape, its values bound: building the statement was most of the read's
            # Python time (an import reads two rows, every keyed creation one: issue 15).
            query = select(self.creations).where(self.creations.c[column] == bindparam("value"))
            if aggregate_id is not None:
                query = query.where(self.creations.c.aggregate_id == bindparam("aggregate_id"))
            if kind is not None:
                query = query.where(self.creations.c.kind == bindparam("kind"))
            self._reads[shape] = query
        values = {"value": value, "aggregate_id": aggregate_id, "kind": kind}
        # No ping first (a dead connection is replaced and the read run again), in autocommit.
        found = read_unpinged(engine, lambda conn: conn.execute(query, values).mappings().first())
        return LedgerRow(**found) if found else None


class MemoryLedgerRecorder(POPOProcessRecorder):
    """The same in memory (eventsourcing's POPO persistence, for unit tests): rows checked for a
    used key with the events' uniqueness and stored with them, under the recorder's lock."""

    def __init__(self) -> None:
        super().__init__()
        self._ledger: list[LedgerRow] = []

    def _assert_uniqueness(self, stored_events: Sequence[Any], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        for row in kwargs.get(SAVE_KWARG) or ():
            if any((r.resource_id, r.kind) == (row.resource_id, row.kind)
                   or (row.key_digest and r.key_digest == row.key_digest)
                   for r in self._ledger):
                raise IntegrityError(f"{row.kind} {row.resource_id}: created already")

    def _update_table(self, stored_events: Sequence[Any], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._update_table(stored_events, **kwargs)
        self._ledger.extend(kwargs.get(SAVE_KWARG) or ())
        return ids

    def forget_requests(self, subject: str) -> None:
        with self._database_lock:
            self._ledger = [replace(r, request_digest=None) if subject in (r.aggregate_id, r.resource_id) else r
                            for r in self._ledger]

    def ledger_row(self, column: str, value: str, *, aggregate_id: str | None,
                   kind: str | None = None) -> LedgerRow | None:
        with self._database_lock:
            return next((r for r in self._ledger if getattr(r, column) == value
                         and aggregate_id in (None, r.aggregate_id) and kind in (None, r.kind)), None)
