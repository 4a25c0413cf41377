"""The relay: follows a service's notification log (the outbox) and publishes it to JetStream.

Publishes are pipelined and the position is recorded only after every PubAck of a batch has
arrived. A crash between publish and record re-publishes the batch with the same
`Nats-Msg-Id`s, which JetStream drops as duplicates (and consumers skip by position anyway).

What it publishes was mostly prepared when the events were saved (messaging/outbox.py): the relay
reads those bytes and publishes them, and renders (decodes, chains, signs) only the events that
have no usable prepared row.

The relay compares its recorded position with the stream's last message (`reconcile`) at start,
after every failed publish and after every reconnect to NATS, and publishes nothing until that
comparison has succeeded: a stream that lost its tail (JetStream acks before fsync; a power failure
can lose acked messages; a cluster's stream leader changes while PubAcks are lost) is sent the
missing events again, and a stream ahead of the record (a crash after the PubAcks) is not. Until
then its last round failed, so /readyz shows it `retrying` with its lag, never caught up: "store
and stream agree" is said only once the stream itself was asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from nats.js.errors import NotFoundError
from sqlalchemy import Connection, Engine, bindparam, select

from libs.platform import tracing
from libs.platform.health import LoopHealth
from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import (
    GENESIS,
    Envelope,
    InvalidEnvelope,
    nats_subject,
)
from libs.platform.messaging.outbox import (
    CHAIN_OF_PREPARED,
    Outbox,
    metadata,
    relay_chain,
    relay_outbox,
    relay_positions,
)
from libs.platform.messaging.signing import HEADER, EventSigner
from libs.platform.messaging.streams import StreamSpec
from libs.platform.store.commits import Wakeup, sleep_or_stop
from libs.platform.store.db import begin_rides, read_unpinged
from libs.platform.store.log import LogReader, end_of

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Batch:
    after: int  # the position it was read after
    end: int  # the log's end as the read saw it
    last: int  # the position of its last event (`after` when empty)
    chainhash: str  # the chain hash of its last event
    messages: list[tuple[str, bytes, dict[str, str]]]  # subject, body, headers of each
    prepared: int  # the position of its last prepared message (`after` when none)
    chain: list[dict[str, Any]]  # the relay_chain rows of the events rendered here
    envelopes: list[Envelope]  # the events rendered here, after the prepared ones (all when traced)


class Relay:
    def __init__(
        self,
        *,
        spec: StreamSpec,
        application: Any,
        engine: Engine,
        bus: Bus,
        batch_size: int = 500,
        poll_seconds: float = 0.05,
        ack_timeout: float = 5.0,
        after_publish: Callable[[int], None] | None = None,
        signer: EventSigner | None = None,
        wakeup: Wakeup | None = None,
    ) -> None:
        self.spec = spec
        self.app = application
        self.engine = engine
        self.bus = bus
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.ack_timeout = ack_timeout
        # Fault-injection hook, called after the PubAcks and before the position is recorded.
        self.after_publish = after_publish
        self.signer = signer  # every published event signed (messaging/signing.py)
        # Rung when the application commits; `poll_seconds` is then only the fallback poll.
        self.wakeup = wakeup
        self.reader = LogReader(spec.service, application)
        self.health = LoopHealth("relay", spec.name, stream=spec.name)
        self._ahead: asyncio.Future[Batch] | None = None  # the next batch, read while PubAcks come back
        # The bus's reconnect count when the stream last agreed with the record (None: compare first).
        self._compared_at: int | None = None
        # While a run lasts, the recorded position and chain hash as this relay last recorded them
        # (None: ask the database). Only this relay's records move it while it runs (with replicas,
        # a take-over ends its run first); each run, and each failed round, reads it again.
        self._recorded: tuple[int, str] | None = None
        self._running = False
        metadata.create_all(engine)
        # The application's saves prepare what this relay publishes (a reader of their own: the
        # writers' threads and the relay's do not share its cache of tenants).
        self.outbox = Outbox(spec.name, LogReader(spec.service, application), signer)
        self.outbox.install(application)

    # -- position -----------------------------------------------------------------------
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
        with self.engine.begin() as conn:
            # The usual round's record (prepared messages only): one round trip, its BEGIN in it.
            query = self.outbox.record_query(position, chainhash, prepared, now) \
                if prepared and forget and not chain and conn.dialect.driver == "psycopg" else None
            if query is not None:
                conn.exec_driver_sql(f"BEGIN; {query}" if begin_rides(conn) else query,
                                     execution_options={"no_parameters": True}).close()
            else:
                self._record_statements(conn, values, chain, prepared, forget=forget)
        if self._running:
            self._recorded = (position, chainhash)

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

    def _standing(self) -> tuple[int, int]:
        """The recorded position and the log's end."""
        return self.position()[0], self.reader.max_position()

    # -- envelopes ------------------------------------------------------------------------
    def pending(self) -> tuple[list[Envelope], str]:
        """The next batch of unpublished envelopes, chained from the recorded position."""
        position, chainhash = self.position()
        envelopes, chainhash, end = self._pending_after(position, chainhash)
        self.health.observe(position, end)
        return envelopes, chainhash

    def _pending_after(self, position: int, chainhash: str,
                       limit: int | None = None) -> tuple[list[Envelope], str, int]:
        envelopes = []
        limit = self.batch_size if limit is None else limit
        read = self.reader.read(position, limit)
        end = end_of(self.reader, read, position, limit)
        for envelope in read:
            envelope = envelope.chained(chainhash)
            chainhash = envelope.chainhash
            envelopes.append(envelope)
        return envelopes, chainhash, end

    def _prepared(self, after: tuple[int, str] | None = None) -> Batch:
        """A batch ready to send (subjects, bodies, signed headers), read after the recorded
        position or, read ahead, after `after` (the position and hash the batch in flight ends at)."""
        def read(conn: Connection) -> tuple[int, list[tuple[str, bytes, dict[str, str]]], int, str, int | None]:
            position, chainhash = self._position_now(conn) if after is None else after
            if tracing.enabled():  # traced, each message carries its publish span: rendered here
                return position, [], position, chainhash, None
            return position, *self.outbox.read(conn, position, chainhash, self.batch_size)

        # One connection for the position and the prepared rows, in autocommit and not pinged first
        # (store/db.read_unpinged: run again on a new connection if it was dead): a ping, BEGIN and
        # ROLLBACK fewer per round on PostgreSQL (issue 15).
        position, messages, prepared, last_hash, log_end = read_unpinged(self.engine, read)
        last, envelopes, chain = prepared, list[Envelope](), list[dict[str, Any]]()
        if log_end is not None and (log_end == prepared or len(messages) == self.batch_size):
            end = log_end  # the prepared rows reach the log's end (issue 15: no read of the log after them)
        elif len(messages) < self.batch_size:  # the events after the prepared ones, rendered here
            envelopes, last_hash, end = self._pending_after(prepared, last_hash, self.batch_size - len(messages))
            messages += self._messages(envelopes)
            chain = [{"stream": self.spec.name, "position": e.sequence, "event_id": e.id, "type": e.type,
                      "chainhash": e.chainhash} for e in envelopes]
            last = envelopes[-1].sequence if envelopes else prepared
        else:
            end = self.reader.max_position()
        return Batch(position, end, last, last_hash, messages, prepared, chain, envelopes)

    def _messages(self, envelopes: list[Envelope]) -> list[tuple[str, bytes, dict[str, str]]]:
        """Subject, body and headers (with the producer's signature) of each envelope."""
        messages = []
        for e in envelopes:
            body = e.to_json()
            headers = {"Nats-Msg-Id": e.id}
            if self.signer is not None:
                headers[HEADER] = self.signer.header(body)
            messages.append((nats_subject(self.spec.service, e), body, headers))
        return messages

    # -- reconciling with the stream ------------------------------------------------------
    async def reconcile(self) -> None:
        """Make the recorded position the log position of the stream's last message."""
        try:
            last = await self.bus.js.get_last_msg(self.spec.name, f"{self.spec.service}.>")
            if last.data is None:
                raise InvalidEnvelope("the stream's last message has no payload")
            envelope = Envelope.from_json(last.data)
            if (last.headers or {}).get("Nats-Msg-Id") != envelope.id:
                raise InvalidEnvelope("not published by a relay (no matching Nats-Msg-Id)")
            at = (envelope.sequence, envelope.chainhash)
        except NotFoundError:  # an empty stream: everything is to be sent
            at = (0, GENESIS)
        except InvalidEnvelope as e:
            log.error("relay %s: the stream's last message is not ours (%s); position kept", self.spec.name, e)
            return
        recorded = await asyncio.to_thread(self.position)
        if at != recorded and not await asyncio.to_thread(self._holds, at[0], envelope.id if at[0] else None):
            log.error("relay %s: the stream ends at %s with an event this log does not hold there (restored from an "
                      "older backup?); position %s kept, an operator must look", self.spec.name, at[0], recorded[0])
            return
        if at != recorded:
            self._drop_ahead()
            log.warning("relay %s: recorded position %s, stream ends at %s: continuing from the stream",
                        self.spec.name, recorded[0], at[0])
            await asyncio.to_thread(self._record, *at)

    def _holds(self, position: int, event_id: str | None) -> bool:
        """The log has this event at this position (the stream and the store tell one history)."""
        if position == 0:
            return True
        found = self.reader.read(position - 1, 1)
        return bool(found) and found[0].sequence == position and found[0].id == event_id

    # -- publishing -----------------------------------------------------------------------
    async def publish_batch(self) -> int:
        """Publish one batch and record its position; returns how many were published.

        After a full batch (a backlog) the next one is read while this one's PubAcks come back; it
        is used only when this one was recorded, so it always starts at the recorded position."""
        ahead, self._ahead = self._ahead, None
        batch = await ahead if ahead is not None else None
        if batch is None or batch.after != (await asyncio.to_thread(self._position_now))[0]:
            batch = await asyncio.to_thread(self._prepared)  # none ahead, or the position moved meanwhile
        self.health.observe(batch.after, batch.end)
        if not batch.messages:
            return 0
        # Traced (only when OTEL_* asks): each envelope carries its publish span's context, so its
        # messages are rendered and signed here (a batch read traced has no prepared rows, _prepared).
        envelopes, traced = tracing.publishing(self.spec.name, lambda e: nats_subject(self.spec.service, e),
                                               batch.envelopes)
        messages = batch.messages
        if envelopes is not batch.envelopes:  # tracing turned on after the batch was read: prepared ones as they are
            messages = messages[:len(messages) - len(envelopes)] + self._messages(envelopes)
        js = self.bus.js
        futures = [await js.publish_async(subject, body, headers=headers) for subject, body, headers in messages]
        last = batch.last
        if len(messages) == self.batch_size:
            self._ahead = asyncio.ensure_future(asyncio.to_thread(self._prepared, (last, batch.chainhash)))
        try:
            try:
                await asyncio.wait_for(asyncio.gather(*futures), timeout=self.ack_timeout)
            except BaseException as error:
                for f in futures:
                    f.cancel()
                traced.end(error)
                raise
            traced.end()
            if self.after_publish is not None:
                self.after_publish(last)
            await asyncio.to_thread(partial(self._record, last, batch.chainhash, batch.chain,
                                            (batch.after, batch.prepared) if batch.prepared > batch.after else None,
                                            forget=len(messages) < self.batch_size))
        except BaseException:
            self._drop_ahead()
            raise
        self.health.observe(last, handled=len(messages))
        return len(messages)

    def _drop_ahead(self) -> None:
        """Forget a batch read ahead: the position it was read after was not recorded."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.add_done_callback(lambda f: f.cancelled() or f.exception())  # its failure is not ours
            ahead.cancel()

    @property
    def compared(self) -> bool:
        """The stream was compared with the record since the last failed publish or reconnect."""
        return self._compared_at is not None and self._compared_at == self.bus.reconnects

    async def compare(self) -> None:
        """reconcile() unless the stream has been compared with the record since the relay
        started, a publish failed or the connection came back."""
        if self.compared:
            return
        # What waits meanwhile, from the store: the lag shows while the stream cannot be asked.
        self.health.observe(*await asyncio.to_thread(self._standing))
        connection = self.bus.reconnects  # before asking: a reconnect meanwhile asks again
        try:
            await self.reconcile()
        except Exception as e:
            raise StreamUnknown(f"cannot compare with the stream ({type(e).__name__}: {e})") from e
        self._compared_at = connection

    async def run(self, stop: asyncio.Event) -> None:
        self._compared_at = None  # every run (a replica's every tenure) starts by asking the stream
        self._recorded, self._running = None, True  # ...and reading its position
        try:
            await self._run(stop)
        finally:
            self._recorded, self._running = None, False

    async def _run(self, stop: asyncio.Event) -> None:
        await self.bus.wait_connected()
        while not stop.is_set():
            try:
                await self.bus.ensure_stream(self.spec)
                break
            except Exception as e:  # noqa: BLE001 - NATS not ready yet: retry
                log.warning("relay %s: cannot ensure stream (%s)", self.spec.name, e)
                self.health.failed(e)
                await sleep_or_stop(stop, 0.5)
        backoff = 0.1
        while not stop.is_set():
            try:
                await self.compare()
                published = await self.publish_batch()
                self.health.succeeded()
                backoff = 0.1
            except Exception as e:  # noqa: BLE001 - bus down or slow: retry from the recorded position
                # Whatever failed, the stream may now hold less (or more) than the record says.
                self._compared_at = None
                self._recorded = None
                # Readiness names the position it is stuck at and why (e.g. MaxPayloadError).
                reason = f"publishing after position {self.health.position}: {type(e).__name__}: {e}"
                self.health.failed(reason)
                log.warning("relay %s: %s; retrying", self.spec.name, reason)
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            if published < self.batch_size:
                self._drop_ahead()
                if self.wakeup is not None:
                    await self.wakeup.wait(stop, self.poll_seconds)
                else:
                    await sleep_or_stop(stop, self.poll_seconds)
        self._drop_ahead()


class StreamUnknown(ConnectionError):
    """The stream could not be compared with the recorded position: nothing is published until it
    can be (a retried fault of the bus, not of an event)."""
