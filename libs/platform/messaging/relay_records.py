"""What the relay records: its position (and the chain hash there) and the `relay_chain` row of each
event it published, written together once a batch's PubAck is in; and the reads of them (the
audit side's view of the log as it was published, the relay's lag).

A mixin of `Relay` (messaging/relay.py): tests and benchmarks replace these methods on a relay.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select

from libs.platform.messaging.cloudevents import GENESIS, Envelope
from libs.platform.messaging.deferred import DeferredRecord, RecordSeconds
from libs.platform.messaging.outbox import PLAIN_NAME, relay_chain, relay_outbox, relay_positions
from libs.platform.messaging.outbox_reads import CHAIN_OF_PREPARED
from libs.platform.messaging.streams import StreamSpec
from libs.platform.store import rederivable
from libs.platform.store.db import begin_rides
from libs.platform.store.log import LogReader

# The relay's statements, built once: it runs them every round, and building a statement (and its
# cache key) cost more than running it (issue 15's profile). (`b_` names: a bind parameter of an
# UPDATE must not be named like a column.)
_POSITION = select(relay_positions.c.position, relay_positions.c.chainhash).where(
    relay_positions.c.stream == bindparam("b_stream"))
_FORGET_CHAIN = relay_chain.delete().where(relay_chain.c.stream == bindparam("b_stream"),
                                           relay_chain.c.position > bindparam("b_first"),
                                           relay_chain.c.position <= bindparam("b_position"))
_INSERT_CHAIN = relay_chain.insert()
_FORGET_PREPARED = relay_outbox.delete().where(relay_outbox.c.stream == bindparam("b_stream"),
                                               relay_outbox.c.position <= bindparam("b_position"))
_UPDATE_POSITION = relay_positions.update().where(relay_positions.c.stream == bindparam("b_stream")).values(
    position=bindparam("b_position"), chainhash=bindparam("b_chainhash"), updated_at=bindparam("b_updated_at"))
_INSERT_POSITION = relay_positions.insert()


def chain_rows(stream: str, envelopes: list[Envelope]) -> list[dict[str, Any]]:
    """The relay_chain rows of these published events."""
    return [{"stream": stream, "position": e.sequence, "event_id": e.id, "type": e.type, "chainhash": e.chainhash}
            for e in envelopes]


class RelayRecords:
    spec: StreamSpec
    engine: Engine
    reader: LogReader
    # While a run lasts, the position and chain hash this relay is at: as it last recorded them, or
    # published after that and to be recorded (`_kept`) (None: ask the database). Only this
    # relay's records move it while it runs (with replicas, a take-over ends its run first); each
    # run, and each failed round, reads it again.
    _recorded: tuple[int, str] | None
    _running: bool
    # Rounds of prepared messages published and acknowledged but not recorded yet (issue 15: a
    # record every round was a write transaction for every second command): (the position the
    # first was read after, the last one's position, its chain hash), owed on the loops' deferred
    # clock (messaging/deferred.py). They are recorded together once `record_seconds` have passed or
    # a batch's worth is waiting, before any other record, before the relay compares with the
    # stream, after a failure and at stop. A crash before that loses no event and sends none twice:
    # the relay's comparison with the stream at start moves the record to the stream's end
    # (relay.py), as after a crash between any PubAck and its record.
    _kept: DeferredRecord[tuple[int, int, str]]
    batch_size: int

    record_seconds = RecordSeconds("_kept")

    def position(self, conn: Connection | None = None) -> tuple[int, str]:
        if conn is None:
            with self.engine.connect() as conn:
                return self.position(conn)
        row = conn.execute(_POSITION, {"b_stream": self.spec.name}).first()
        return (row.position, row.chainhash) if row else (0, GENESIS)

    def _position_now(self, conn: Connection | None = None) -> tuple[int, str]:
        """The recorded position: kept in memory while running, else read."""
        recorded = self._recorded
        if recorded is not None:
            return recorded
        recorded = self.position(conn)
        if self._running:
            self._recorded = recorded
        return recorded

    def _record(self, position: int, chainhash: str, chain: Sequence[dict[str, Any]] = (),
                prepared: tuple[int, int] | None = None, *, forget: bool = True) -> None:
        """Record the position and the relay_chain rows of what was published: `chain` rendered
        here, and the prepared ones after prepared[0] up to prepared[1], copied from their rows.
        With `forget`, the prepared rows up to the position go (published, or skipped when the
        stream was ahead): deleting a row cost as much as publishing it, so while a backlog
        drains they wait for the first batch that is not full. Never read again (the relay reads
        after its position), they are only space."""
        now = datetime.now(UTC)
        values = {"b_stream": self.spec.name, "b_position": position, "b_chainhash": chainhash, "b_updated_at": now}
        self._recorded = None  # unknown until this commits
        # Its commit does not wait for the disk: the comparison with the stream re-derives a record
        # a crash lost (store/rederivable.py).
        with rederivable.connect(self.engine) as conn, conn.begin():
            # A record of prepared messages only (the usual round's, a backlog's batch): one round
            # trip, its BEGIN and COMMIT in it (psycopg's commit then finds the server idle and sends
            # nothing, as for a save's: store/db.commit_rides; failed, the query stops there and the
            # transaction is rolled back as before).
            query = record_query(self.spec.name, position, chainhash, prepared, now, forget=forget) \
                if prepared and not chain and conn.dialect.driver == "psycopg" else None
            if query is not None:
                query = f"{rederivable.NO_FLUSH_WAIT}; {query}"
                conn.exec_driver_sql(f"BEGIN; {query}; COMMIT" if begin_rides(conn) else query,
                                     execution_options={"no_parameters": True}).close()
            else:
                rederivable.no_flush_wait(conn)
                self._record_statements(conn, values, chain, prepared, forget=forget)
        if self._running:
            self._recorded = (position, chainhash)

    def _record_later(self, after: int, last: int, chainhash: str, count: int) -> bool:
        """Keep a round of prepared messages only, published after `after` and acknowledged, to be
        recorded with the rounds after it; False: record it now (the relay is not running, or it
        does not follow the rounds kept)."""
        kept = self._kept.value
        if not self._running or self.record_seconds <= 0 or (kept is not None and kept[1] != after):
            return False
        self._kept.keep((kept[0] if kept is not None else after, last, chainhash), count)
        self._recorded = (last, chainhash)  # where the next round reads from
        return True

    def _record_due(self) -> bool:
        return self._kept.due(self.batch_size)

    def _record_pending(self) -> None:
        """Record the rounds kept (one transaction); taken out first, so a failure drops them (the
        comparison with the stream after it moves the record to where the stream ends)."""
        kept = self._kept.take()
        if kept is not None:
            after, last, chainhash = kept
            self._record(last, chainhash, (), (after, last))

    @staticmethod
    def _record_statements(conn: Connection, values: dict[str, Any], chain: Sequence[dict[str, Any]],
                           prepared: tuple[int, int] | None, *, forget: bool) -> None:
        stream, position = values["b_stream"], values["b_position"]
        if chain or prepared:  # a batch sent again (the stream lost its tail) replaces its earlier rows
            first = prepared[0] if prepared else chain[0]["position"] - 1
            conn.execute(_FORGET_CHAIN, {"b_stream": stream, "b_first": first, "b_position": position})
        if prepared:
            conn.execute(CHAIN_OF_PREPARED, {"stream": stream, "after": prepared[0], "last": prepared[1]})
        if chain:
            conn.execute(_INSERT_CHAIN, list(chain))
        if forget:
            conn.execute(_FORGET_PREPARED, {"b_stream": stream, "b_position": position})
        if not conn.execute(_UPDATE_POSITION, values).rowcount:
            conn.execute(_INSERT_POSITION, {"stream": stream, "position": position, "chainhash": values["b_chainhash"],
                                            "updated_at": values["b_updated_at"]})

    def published_rows(self, first: int, last: int) -> dict[int, Any]:
        """The recorded (type, chainhash) of each published position in [first, last]."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(relay_chain.c.position, relay_chain.c.type, relay_chain.c.chainhash).where(
                relay_chain.c.stream == self.spec.name, relay_chain.c.position.between(first, last)))
            return {r.position: r for r in rows}

    def published(self, after: int, limit: int) -> list[Envelope]:
        """The log as it was published (unchained): an event whose type got a new version since it
        was published is rendered at the version it was published with, so the audit side checks
        what the bus holds and checkpoints signed. An event published before positions were
        recorded one by one is taken as published at its stored version; one not yet published
        renders as the relay will publish it (the current version)."""
        envelopes = self.reader.read(after, limit)
        if not envelopes:
            return envelopes
        position = self.position()[0]
        rows = self.published_rows(envelopes[0].sequence, envelopes[-1].sequence)
        rendered = []
        for e in envelopes:
            row = rows.get(e.sequence)
            if row is not None and row.type != e.type:
                e = self.reader.read_at(e.sequence, int(row.type.rsplit(".v", 1)[1]))
            elif row is None and e.sequence <= position and e.version > 1:
                e = self.reader.read_at(e.sequence, None)
            rendered.append(e)
        return rendered

    def lag(self) -> int:
        position, end = self._standing()
        return end - position

    def unpublished(self) -> int:
        """Events of the log not published yet: as far as this relay's run has published (rounds
        kept are published, recorded later), else as recorded."""
        recorded = self._recorded
        if self._running and recorded is not None:
            return self.reader.max_position() - recorded[0]
        return self.lag()

    def _standing(self) -> tuple[int, int]:
        """The recorded position and the log's end."""
        return self.position()[0], self.reader.max_position()


HEX = re.compile(r"[0-9a-f]{64}")  # a chain hash, written into a query as it is


def record_query(stream: str, position: int, chainhash: str, prepared: tuple[int, int],
                 updated_at: datetime, *, forget: bool = True) -> str | None:
    """The relay's record of a batch of prepared messages, with `forget` forgotten as published (the
    statements of RelayRecords._record_statements, same order) as one query of literals, for one
    round trip with its BEGIN (issue 15: four statements, four round trips; a backlog's batches,
    not forgotten, were three and a BEGIN each). None: a stream name or hash not plain (only plain
    names, a hex hash and integers are written into it)."""
    if not PLAIN_NAME.fullmatch(stream) or not HEX.fullmatch(chainhash):
        return None
    name, after, last, position = f"'{stream}'", int(prepared[0]), int(prepared[1]), int(position)
    chain, outbox, positions = relay_chain.name, relay_outbox.name, relay_positions.name
    return (f"DELETE FROM {chain} WHERE stream = {name} AND position > {after} AND position <= {position}; "
            f"INSERT INTO {chain} (stream, position, event_id, type, chainhash) "
            f"SELECT stream, position, event_id, type, chainhash FROM {outbox} "
            f"WHERE stream = {name} AND position > {after} AND position <= {last}; "
            + (f"DELETE FROM {outbox} WHERE stream = {name} AND position <= {position}; " if forget else "")
            + f"INSERT INTO {positions} (stream, position, chainhash, updated_at) "
            f"VALUES ({name}, {position}, '{chainhash}', '{updated_at.isoformat()}') "
            "ON CONFLICT (stream) DO UPDATE "
            "SET position = excluded.position, chainhash = excluded.chainhash, updated_at = excluded.updated_at")
