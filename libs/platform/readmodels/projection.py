"""SQL read models fed by the consumer runner: effect and position in one transaction.

Subclasses define their tables on `metadata` and either a table of `handlers(conn, envelope)`
keyed by event class (libs/platform/messaging/handlers) or their own `project`. Each event id is
applied once per projection, so a duplicate stored again outside JetStream's duplicate window
still counts once: an event whose handler always inserts one row keyed by its id (`recorded_in`) is
guarded by that row, any other by a row of `projected_events`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    inspect,
    select,
    text,
)

from libs.domain.contracts import Contract
from libs.platform import tracing
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.deadletters import plain
from libs.platform.messaging.handlers import EventHandlers, contract_of_envelope
from libs.platform.readmodels.batch import held
from libs.platform.store import rederivable
from libs.platform.store.bulk import insert_rows, one_of, strings

ProjectionHandler = Callable[[Connection, Envelope], None]


class SqlProjection:
    name = "projection"
    # Events it projects, by class; the others only advance its position.
    handlers: EventHandlers[ProjectionHandler] | None = None
    # An event it has no handler for changes nothing (`changes`), so a batch of only such events is
    # passed by: a service's own read models (readmodels/follower.py), and consumers' projections
    # nothing rebuilds (messaging/consumer_passby.py: dispatch's targets). (Not reporting's: a
    # rebuild's replay is done when their recorded positions reach the streams' ends, and they
    # guard every event id: by its fact row (`recorded_in`) or in `projected_events`.)
    pass_by_unhandled = False
    # Events whose handler always inserts exactly one row into a table whose primary key is the event
    # id (a fact table), by class: that row already says the event was applied, so it is the guard
    # (looked up there, in the same transaction as the insert it guards) and `projected_events` gets
    # no row for them. A rebuild empties both together. (Issue 15: a second random-key B-tree per
    # fact was a sixth of a rebuild's apply.) A handler that may insert no row must not be listed.
    recorded_in: Mapping[type[Contract], Table] = {}

    def __init__(self, engine: Engine, metadata: MetaData, *, shape: Shape | None = None) -> None:
        self.engine = engine
        self.metadata = metadata
        self.positions = _table(metadata, "projection_positions",
            Column("projection", String(64), primary_key=True),
            Column("stream", String(64), primary_key=True),
            Column("position", BigInteger, nullable=False))
        self.seen = _table(metadata, "projected_events",
            Column("projection", String(64), primary_key=True),
            Column("event_id", String(64), primary_key=True))
        self.skipped = _table(metadata, "skipped_messages",
            Column("projection", String(64), primary_key=True),
            Column("stream", String(64), primary_key=True),
            Column("position", BigInteger, primary_key=True),
            Column("reason", Text, nullable=False))
        shape = shape or Shape.read(engine)
        # Only the tables not there yet are created (checkfirst still guards a concurrent start);
        # only those that were there can be of an older shape.
        metadata.create_all(engine, tables=[t for t in metadata.sorted_tables if not shape.has(t.name)])
        for table in metadata.sorted_tables:
            if shape.has(table.name):
                upgrade_table(engine, table, shape)
        # Built once: a follower runs these on every round, and building a statement (and its
        # cache key) each time cost more than running it (issue 15's profile).
        # (A bind parameter of an UPDATE or INSERT must not be named like a column: `b_` names.)
        p, name = self.positions.c, bindparam("b_projection", self.name, type_=String)
        self._select_position = select(p.position).where(p.projection == name, p.stream == bindparam("b_stream"))
        self._update_position = self.positions.update().where(
            p.projection == name, p.stream == bindparam("b_stream"), p.position < bindparam("b_new")
        ).values(position=bindparam("b_new"))
        self._insert_position = self.positions.insert().values(
            projection=name, stream=bindparam("b_stream"), position=bindparam("b_new"))
        self._select_seen = select(self.seen.c.event_id).where(
            self.seen.c.projection == name, one_of(self.seen.c.event_id, "b_ids", engine.dialect))
        self._select_recorded = {
            table: select(table.c.event_id).where(one_of(table.c.event_id, "b_ids", engine.dialect))
            for table in _keyed_by_event_id(self.recorded_in.values())}

    def project(self, conn: Connection, envelope: Envelope) -> None:
        if self.handlers is None:
            raise NotImplementedError(f"{type(self).__name__} has neither handlers nor its own project()")
        handler = self.handlers.handler_for(envelope)
        if handler is not None:
            handler(conn, envelope)

    def changes(self, envelope: Envelope) -> bool:
        """Whether projecting this event may change a row. An event that changes nothing is not
        counted in `projected_events` (applying it again changes nothing either): a round of a
        projection that most events pass by (the privacy records) then only moves its position, and
        leaves no row per event behind."""
        if self.pass_by_unhandled and self.handlers is not None:
            return self.handlers.handler_for(envelope) is not None
        return True

    def position(self, stream: str) -> int:
        with self.engine.connect() as conn:
            return self._position(conn, stream)

    def _position(self, conn: Connection, stream: str) -> int:
        row = conn.execute(self._select_position, {"b_stream": stream}).first()
        return row.position if row else 0

    def _advance(self, conn: Connection, stream: str, position: int) -> None:
        # One statement in the usual case (a row behind `position`); the rare rest asks why not.
        if conn.execute(self._update_position, {"b_stream": stream, "b_new": position}).rowcount == 1:
            return
        current = self._position(conn, stream)
        if position <= current:
            raise StalePosition(f"{self.name}/{stream}: {position} ≤ recorded {current}")
        conn.execute(self._insert_position, {"b_stream": stream, "b_new": position})

    def apply(self, envelope: Envelope, stream: str, position: int) -> None:
        self.apply_batch([envelope], stream, position)

    def apply_batch(self, envelopes: list[Envelope], stream: str, position: int) -> None:
        """Apply consecutive messages ending at `position` in one transaction (rebuilds and
        catch-ups go fast); all or nothing. A log follower's commit does not wait for the disk (its
        batches are re-derived from the log: store/rederivable.py)."""
        with rederivable.begin(self.engine) as conn:
            self._advance(conn, stream, position)
            # Only the events it changes something for are counted once; the rest only move the position.
            envelopes = [e for e in envelopes if self.changes(e)]
            guards = [self._guard(e) for e in envelopes]
            seen = self._applied(conn, envelopes, guards)
            new = []
            with held(conn):  # the batch's inserts together, one statement per table (batch.py)
                for envelope, guard in zip(envelopes, guards, strict=True):
                    if envelope.id in seen:
                        continue
                    seen.add(envelope.id)
                    if guard is None:  # else the row its handler inserts is its guard
                        new.append({"projection": self.name, "event_id": envelope.id})
                    with tracing.applying(self.name, stream, envelope):
                        self.project(conn, envelope)
            insert_rows(conn, self.seen, new)  # one statement for the batch

    def _guard(self, envelope: Envelope) -> Table | None:
        """The fact table whose row keyed by this event's id guards it; None: `projected_events`."""
        if not self.recorded_in:
            return None
        contract = contract_of_envelope(envelope)
        return None if contract is None else self.recorded_in.get(contract)

    def applied(self, conn: Connection, envelopes: list[Envelope]) -> set[str]:
        """The ids of these events this projection applied (guarded by their fact rows or in
        `projected_events`): what an audit of "counted once" reads."""
        return self._applied(conn, envelopes, [self._guard(e) for e in envelopes])

    def _applied(self, conn: Connection, envelopes: list[Envelope], guards: list[Table | None]) -> set[str]:
        """The ids of these events applied before: one lookup per guard the batch has."""
        ids: dict[Table | None, list[str]] = {}
        for envelope, guard in zip(envelopes, guards, strict=True):
            ids.setdefault(guard, []).append(envelope.id)
        seen: set[str] = set()
        for guard, batch in ids.items():
            query = self._select_seen if guard is None else self._select_recorded[guard]
            seen.update(conn.execute(query, {"b_ids": strings(batch, conn.dialect)}).scalars())
        return seen

    def record_position(self, stream: str, position: int) -> None:
        """The position alone, past events that change nothing (a consumer or a follower passed them
        by); nothing when it is recorded as far already. Through apply_batch: a rebuild's fence holds."""
        with contextlib.suppress(StalePosition):
            self.apply_batch([], stream, position)

    def skip(self, stream: str, position: int, reason: str) -> None:
        with self.engine.begin() as conn:
            self._advance(conn, stream, position)
            conn.execute(self.skipped.insert().values(
                projection=self.name, stream=stream, position=position, reason=plain(reason)))


class StalePosition(Exception):
    """A position at or below the recorded one: the message was applied already."""


@dataclass(frozen=True)
class Shape:
    """The tables a database holds now, with their columns and indexes, read in one reflection per
    kind (`get_multi_*`: a few catalogue queries on PostgreSQL). Asked table by table, a service's
    start made a reflection round trip per table and kind: 466 statements for reporting's, seconds on
    a loaded machine, paid at every start of a service and of every test that starts one."""

    columns: dict[str, set[str]]
    indexes: dict[str, set[str]]

    @classmethod
    def read(cls, engine: Engine) -> Shape:
        inspector = inspect(engine)
        return cls({name: {c["name"] for c in cols} for (_, name), cols in inspector.get_multi_columns().items()},
                   {name: {i["name"] for i in idx if i["name"]}
                    for (_, name), idx in inspector.get_multi_indexes().items()})

    def has(self, table: str) -> bool:
        return table in self.columns


def upgrade_table(engine: Engine, table: Table, shape: Shape | None = None) -> None:
    """A table made by an earlier release gets the nullable columns and the indexes added since,
    and loses the indexes retired since."""
    shape = shape or Shape.read(engine)
    _add_missing_columns(engine, table, shape.columns.get(table.name, set()))
    _add_missing_indexes(engine, table, shape.indexes.get(table.name, set()))
    _drop_retired_indexes(engine, table, shape.indexes.get(table.name, set()))


def _add_missing_columns(engine: Engine, table: Table, present: set[str]) -> None:
    """Nullable columns added to a read model after its table was made: create_all does not alter
    tables; rows projected before keep NULL there (the projection reads NULL as "not known then")."""
    missing = [c for c in table.columns if c.name not in present and c.nullable]
    if missing:
        with engine.begin() as conn:
            for column in missing:
                kind = column.type.compile(dialect=engine.dialect)
                # Replicas starting together race here; PostgreSQL can make the second a no-op.
                guard = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN {guard}"{column.name}" {kind}'))


def _add_missing_indexes(engine: Engine, table: Table, present: set[str]) -> None:
    """Indexes added to a read model after its table was made (create_all makes them only with
    the table): built at start, once."""
    missing = [i for i in table.indexes if i.name not in present]
    if missing:
        with engine.begin() as conn:
            for index in missing:
                index.create(conn, checkfirst=True)  # replicas starting together: the second skips it


def _drop_retired_indexes(engine: Engine, table: Table, present: set[str]) -> None:
    """Indexes an earlier release declared (`index=True` names them ix_<table>_<column>) and this one
    does not: every insert still paid for them (issue 15). Only those so named: an index made
    otherwise is not the read model's to drop. An older replica starting later makes them again
    (harmless: what it reads is the same), and this release's next start drops them again."""
    declared = {i.name for i in table.indexes}
    retired = sorted(n for n in present if n.startswith(f"ix_{table.name}_") and n not in declared)
    if retired:
        with engine.begin() as conn:
            for name in retired:  # replicas starting together: the second finds it gone
                conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))


def _keyed_by_event_id(tables: Iterable[Table]) -> list[Table]:
    """The guards of `recorded_in`, each checked to be keyed by the event id alone."""
    guards = list(dict.fromkeys(tables))
    for table in guards:
        if [c.name for c in table.primary_key.columns] != ["event_id"]:
            raise TypeError(f"{table.name} is not keyed by the event id alone: it cannot guard an event")
    return guards


def _table(metadata: MetaData, name: str, *columns: Column) -> Table:
    if name in metadata.tables:  # a second projection instance in this process
        return metadata.tables[name]
    return Table(name, metadata, *columns)
