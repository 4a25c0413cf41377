"""The relay's tables, and its messages prepared when their events are saved (issue 15).

Rendering a stored event as the relay publishes it (decode, envelope, chain hash, canonical
JSON, Ed25519 signature) cost the relay four times what publishing it does. It is done once
instead, in the transaction that stores the event: `Outbox.prepare` writes one `relay_outbox`
row per event (subject, body, signature header, and the chain hashes before and after it), and
the relay only reads those bytes and publishes them. Nothing about the messages changes: the
bytes are the ones the relay would render (the same `LogReader` decodes the stored event), signed
by the same key, chained over the log in the same order.

Why it stays correct:
- **In order, under the writer's lock.** The row of an event chains from the event before it in
  the log (its relay_chain row, once published, else its outbox row). Saves are serialised
  (PostgreSQL: `LOCK TABLE ... IN EXCLUSIVE MODE`; SQLite: one writer), so that event is
  committed and nothing comes between. When it has no row (an event saved before this existed,
  or by a writer without the hook), nothing is prepared: the relay renders those events itself,
  as before, and a save after the relay recorded them chains from its record again.
- **The relay trusts a row only when it continues its chain** (`previous` = the hash it is at)
  and renders the event's type at the version the code has now; otherwise (an upgrade bumped the
  version before publishing, the relay re-rendered an earlier event, tracing is on) it renders
  the event itself, from that position on, exactly as without rows.
- **Atomic with the event**: a save that rolls back leaves no row; a crash after publishing and
  before recording re-publishes the same bytes (same `Nats-Msg-Id`). Rows are deleted when the
  relay records their position, in the same transaction as their `relay_chain` rows.

A row holds the envelope (no plaintext personal data: sealed fields stay sealed) only until the
relay has published it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.utils import resolve_topic
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from libs.domain.contracts import contract_of, event_type
from libs.domain.errors import EventTooLarge
from libs.platform.limits import PUBLISH_HEADROOM
from libs.platform.messaging.cloudevents import GENESIS, LARGEST_SEQUENCE, Envelope, nats_subject
from libs.platform.messaging.outbox_reads import READ, read_with_end
from libs.platform.messaging.signing import HEADER, EventSigner
from libs.platform.store.bulk import insert_rows
from libs.platform.store.creations import LedgerRecorder, SaveWrites
from libs.platform.store.driver_sql import run_select
from libs.platform.store.log import LogReader

log = logging.getLogger(__name__)
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.]{1,128}")  # a stream or table name written into a query as it is

metadata = MetaData()
relay_positions = Table(
    "relay_positions",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("chainhash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# What was published at each position: the type (with its version) and chain hash of the message.
# An upgrade that bumps an event's version changes how an older event renders now, not what the
# bus holds and checkpoints signed; the audit side renders a published event at this version.
relay_chain = Table(
    "relay_chain",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("type", String(200), nullable=False),
    Column("chainhash", String(64), nullable=False),
)
# What the relay will publish at each position, prepared when the event was saved.
relay_outbox = Table(
    "relay_outbox",
    metadata,
    Column("stream", String(64), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("previous", String(64), nullable=False),  # the chain hash it continues
    Column("chainhash", String(64), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("type", String(200), nullable=False),
    Column("topic", Text, nullable=False),  # to tell whether its type is still the current version
    Column("subject", String(255), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("signature", String(200)),  # the signature header; none when the relay signs nothing
    Column("signed_by", String(16)),  # EventSigner.key_id of the key that made it
)


class Outbox:
    """Prepares, in each save's transaction, the messages of its events (see the module)."""

    def __init__(self, stream: str, reader: LogReader, signer: EventSigner | None) -> None:
        self.stream = stream
        self.reader = reader
        self.signer = signer
        self._types: dict[str, str] = {}
        self._queries: dict[str, Any] = {}
        self.max_event_bytes: int | None = None  # the application's limit, once installed
        self._read = READ  # installed: also the log's end (`read`)

    def install(self, application: Any) -> bool:
        """Have every save of the application's events also prepare their rows, in its transaction
        (the service's recorder, store/creations.LedgerRecorder, calls `after_insert` with the new
        positions). On another recorder (in memory) nothing is prepared: the relay renders every
        event itself. A later outbox replaces an earlier one."""
        recorder = application.recorder
        if not isinstance(recorder, LedgerRecorder):
            return False
        recorder.after_insert = self.prepare
        recorder.head_query = self.head_query
        self.max_event_bytes = getattr(application, "max_event_bytes", None)
        # The log's end in the same statement (one snapshot): where the prepared rows reach it, the
        # relay need not read the log after them (every save prepares its rows in its transaction).
        # Also when no row is prepared (a row of NULLs beside the end): a round that found nothing
        # then read the log, found an event committed in between and rendered it itself, a round
        # recorded at once instead of kept (test_relay_records_kept: a flaky CI failure's cause).
        self._read = read_with_end(recorder.events_record_cls.__table__.fullname)
        return True

    # -- the writer's side ----------------------------------------------------------------
    def prepare(self, session: Session, table: Table, stored_events: Sequence[StoredEvent],
                ids: Sequence[int], domain_events: Sequence[Any] | None = None,
                writes: SaveWrites | None = None) -> bool:
        """Whether the events were rendered, and so measured against the application's limit
        (`max_event_bytes`, set by install): a save checks their size on these very bytes rather
        than rendering each event once more (ServiceApplication._record). `domain_events`: the
        objects the save stored as `stored_events` (same order), rendered from memory where that is
        proven to give the same bytes (LogReader.envelopes), instead of decoding what was stored.
        `writes`: the save's (store/creations.SaveWrites): the rows of `head_query`, read under the
        table's lock before the insert (None: not read, so read here, after it), and the inserts the
        rows are added to, sent with the save's others (None: inserted here)."""
        heads = writes.heads if writes is not None else None
        chainhash = self._chained_from(session, table, min(ids)) if heads is None else self._chain_head(heads)
        if chainhash is None:
            return False
        in_memory = domain_events if domain_events is not None and len(domain_events) == len(stored_events) else None
        order = sorted(range(len(ids)), key=ids.__getitem__)
        notifications = [Notification(id=ids[k], originator_id=stored_events[k].originator_id,
                                      originator_version=stored_events[k].originator_version,
                                      topic=stored_events[k].topic, state=stored_events[k].state) for k in order]
        try:
            envelopes = self.reader.envelopes(notifications, created=lambda i: self._created(session, table, i),
                                              in_memory=[in_memory[k] for k in order] if in_memory else None)
        except SQLAlchemyError:
            # The database failed inside the save's transaction (PostgreSQL has aborted it): the save
            # fails with it, as it would at commit; nothing to fall back to.
            raise
        except Exception as e:  # noqa: BLE001 - the relay renders them itself (and names its own failure)
            log.warning("relay %s: cannot prepare the messages of positions %s (%s); the relay renders them",
                        self.stream, [n.id for n in notifications], type(e).__name__)
            return False
        rows = []
        for n, envelope in zip(notifications, envelopes, strict=True):
            chained, body = envelope.chained_json(chainhash)
            self._measure(n.id, chained, body)
            rows.append({"stream": self.stream, "position": n.id, "previous": chainhash,
                         "chainhash": chained.chainhash, "event_id": chained.id, "type": chained.type,
                         "topic": n.topic, "subject": nats_subject(self.reader.service, chained), "body": body,
                         "signature": self.signer.header(body) if self.signer is not None else None,
                         "signed_by": self.signer.key_id if self.signer is not None else None})
            chainhash = chained.chainhash
        if writes is not None:
            writes.inserts.append((relay_outbox, rows))
        else:
            insert_rows(session, relay_outbox, rows)
        return True

    def _measure(self, position: int, envelope: Envelope, body: bytes) -> None:
        """Refuse the save (EventTooLarge) as ServiceApplication._check_sizes does, on the message
        itself: counted at the largest position, so the bound does not depend on where it lands."""
        if self.max_event_bytes is None:
            return
        size = len(body) - len(str(position)) + len(str(LARGEST_SEQUENCE)) + PUBLISH_HEADROOM
        if size > self.max_event_bytes:
            raise EventTooLarge(f"{envelope.name} would be {size} bytes on the event stream; the limit is "
                                f"{self.max_event_bytes}", event=envelope.name, size=size, limit=self.max_event_bytes)

    def _chained_from(self, session: Session, table: Table, first: int) -> str | None:
        """The chain hash the event at `first` continues: the one of the log's event before it, as
        published (relay_chain) or prepared (relay_outbox); None when neither is known."""
        query = self._queries.get(table.name)
        if query is None:  # one statement, built once: it runs inside every save
            before = select(table.c.id).where(table.c.id < bindparam("first")).order_by(
                table.c.id.desc()).limit(1).subquery()
            published = select(relay_chain.c.chainhash).where(
                relay_chain.c.stream == bindparam("stream"), relay_chain.c.position == before.c.id).scalar_subquery()
            prepared = select(relay_outbox.c.chainhash).where(
                relay_outbox.c.stream == bindparam("stream"), relay_outbox.c.position == before.c.id).scalar_subquery()
            query = self._queries[table.name] = select(before.c.id, published, prepared)
        return self._chain_head(run_select(session, (Outbox, table.name), lambda: query,
                                           {"first": first, "stream": self.stream}))

    @staticmethod
    def _chain_head(rows: Sequence[Any]) -> str | None:
        """The chain hash from the rows of `_chained_from`'s or `head_query`'s query."""
        if not rows:
            return GENESIS
        return rows[0][1] or rows[0][2]

    def head_query(self, table_name: str) -> str | None:
        """`_chained_from`'s query as literals, for the save's lock round trip (store/core_inserts.py): run
        right after `LOCK TABLE` and before the insert, the last event in the table is the one before
        the save's first (saves are serialised, and every id a save draws is above every committed
        one; a failed save's ids are gaps, never in the table). None: a stream name not plain."""
        if not PLAIN_NAME.fullmatch(self.stream) or not PLAIN_NAME.fullmatch(table_name):
            return None
        stream = f"'{self.stream}'"  # safe: PLAIN_NAME has no quote or backslash
        return (f"SELECT b.id, (SELECT chainhash FROM {relay_chain.name} WHERE stream = {stream} AND position = b.id), "
                f"(SELECT chainhash FROM {relay_outbox.name} WHERE stream = {stream} AND position = b.id) "
                f"FROM (SELECT id FROM {table_name} ORDER BY id DESC LIMIT 1) AS b")

    def _created(self, session: Session, table: Table, originator_id: Any) -> Any:
        """An aggregate's created event, read in the writer's own transaction (no second connection)."""
        row = session.execute(select(table.c.originator_id, table.c.originator_version, table.c.topic,
                                     table.c.state).where(table.c.originator_id == originator_id,
                                                          table.c.originator_version == 1)).one()
        state = bytes(row.state) if isinstance(row.state, memoryview) else row.state
        return self.reader.app.mapper.to_domain_event(StoredEvent(
            originator_id=row.originator_id, originator_version=row.originator_version, topic=row.topic, state=state))

    # -- the relay's side -----------------------------------------------------------------
    def read(self, conn: Connection, after: int, chainhash: str,
             limit: int) -> tuple[list[tuple[str, bytes, dict[str, str]]], int, str, int | None]:
        """The messages prepared after `after` that continue the chain at `chainhash`, in order,
        with the position and chain hash of the last; stops before the first row that does not
        continue it, or whose type is no longer the current version of its event. And the log's
        end as the same statement saw it, prepared rows or none (None: not installed, or an empty
        log): the events and their rows commit together, so an end at the last message's position
        (or at `after`) means no event after the prepared ones had committed then."""
        # Plain text SQL and tuples: SQLAlchemy's typed rows cost more than the rest of the read.
        rows = list(conn.execute(self._read, {"stream": self.stream, "after": after, "limit": limit}).all())
        end = rows[0][10] if rows and self._read is not READ else None
        if rows and rows[0][0] is None:  # nothing prepared: the row that carries the end alone
            rows = []
        rows.sort(key=_position)  # read_with_end: in order here, not by the statement
        messages: list[tuple[str, bytes, dict[str, str]]] = []
        signed = self.signer is not None
        key_id = self.signer.key_id if self.signer is not None else None
        for position, previous, hashed, event_id, type_, topic, subject, body, signature, signed_by, *_ in rows:
            # A row signed with another key (made before a rotation of the signing key, or
            # unsigned when the relay signs now) is rendered and signed again by the relay.
            if previous != chainhash or type_ != self._current_type(topic) or signed_by != key_id:
                break
            headers = {"Nats-Msg-Id": event_id, HEADER: signature} if signed else {"Nats-Msg-Id": event_id}
            messages.append((subject, body if isinstance(body, bytes) else bytes(body), headers))
            after, chainhash = position, hashed
        return messages, after, chainhash, end

    def _current_type(self, topic: str) -> str:
        current = self._types.get(topic)
        if current is None:
            contract = contract_of(resolve_topic(topic))
            current = self._types[topic] = event_type(contract) if contract is not None else ""
        return current


def _position(row: Any) -> int:
    return row[0]
