"""The relay's batches: read (the messages prepared at save time, and the events after them
rendered here), sent (one atomic batch each, with its PubAck's future) and recorded.

A mixin of `Relay` (messaging/relay.py): tests and benchmarks replace these methods on a relay.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine

from libs.platform import tracing
from libs.platform.health import LoopHealth
from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import Envelope, nats_subject
from libs.platform.messaging.outbox import Outbox
from libs.platform.messaging.outbox_reads import ordered_by_index
from libs.platform.messaging.relay_order import publish_atomic
from libs.platform.messaging.relay_records import chain_rows
from libs.platform.messaging.signing import HEADER, EventSigner
from libs.platform.messaging.streams import StreamSpec
from libs.platform.store.db import read_unpinged
from libs.platform.store.log import LogReader, end_of

Message = tuple[str, bytes, dict[str, str]]  # subject, body, headers
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    after: int  # the position it was read after
    end: int  # the log's end as the read saw it
    last: int  # the position of its last event (`after` when empty)
    chainhash: str  # the chain hash of its last event
    messages: list[Message]
    prepared: int  # the position of its last prepared message (`after` when none)
    chain: list[dict[str, Any]]  # the relay_chain rows of the events rendered here
    envelopes: list[Envelope]  # the events rendered here, after the prepared ones (all when traced)


@dataclass
class InFlight:
    """A batch published, its PubAck (the commit's) not in yet."""
    batch: Batch
    ack: asyncio.Future[Any]  # the PubAck of its last message (the batch's commit)
    traced: tracing.Publishing
    ahead: asyncio.Future[Batch] | None  # the batch after it, being read (only after a full batch)
    expected: int = 0  # the stream sequence its first message expected last (messaging/relay_order.py)
    first: asyncio.Future[Any] | None = None  # the answer to its first message (None: not asked for)

    def answered(self) -> None:
        """Its PubAck is in: its first message's answer is not waited for (nor its slot held)."""
        if self.first is not None:
            self.first.cancel()

    def drop(self, error: BaseException | None = None) -> None:
        """Give up on its PubAck and on the batch read after it."""
        self.ack.cancel()
        self.answered()
        self.traced.end(error or asyncio.CancelledError("dropped: an earlier batch was not recorded"))
        if self.ahead is not None:
            self.ahead.add_done_callback(lambda f: f.cancelled() or f.exception())  # its failure is not ours
            self.ahead.cancel()


class RelayBatches:
    # A batch's record running in its thread behind the loop, and that batch (`_record_behind`).
    _recording: tuple[asyncio.Future[None], Batch] | None = None
    health: LoopHealth
    spec: StreamSpec
    engine: Engine
    bus: Bus
    reader: LogReader
    outbox: Outbox
    signer: EventSigner | None
    batch_size: int

    if TYPE_CHECKING:  # RelayRecords's
        def _position_now(self, conn: Connection | None = None) -> tuple[int, str]: ...

        def _record(self, position: int, chainhash: str, chain: Any = (), prepared: tuple[int, int] | None = None,
                    *, forget: bool = True) -> None: ...

        def _expecting(self, after: int, count: int) -> int: ...  # RelayOrder's

        _answered: bool  # RelayOrder's

        def _record_later(self, after: int, last: int, chainhash: str, count: int) -> bool: ...

        def _record_due(self) -> bool: ...

        def _record_pending(self) -> None: ...

    def _pending_after(self, position: int, chainhash: str,
                       limit: int | None = None) -> tuple[list[Envelope], str, int]:
        envelopes, _, chainhash, end = self._rendered_after(position, chainhash, limit)
        return envelopes, chainhash, end

    def _rendered_after(self, position: int, chainhash: str,
                        limit: int | None = None) -> tuple[list[Envelope], list[bytes], str, int]:
        """The envelopes after `position` chained from `chainhash`, with the bytes of each as
        published (one canonical rendering of each, Envelope.chained_json: what a save's outbox
        would have prepared, rendered here for events saved without it, e.g. a bulk import's)."""
        envelopes, bodies = [], []
        limit = self.batch_size if limit is None else limit
        read = self.reader.read(position, limit)
        end = end_of(self.reader, read, position, limit)
        for envelope in read:
            envelope, body = envelope.chained_json(chainhash)
            chainhash = envelope.chainhash
            envelopes.append(envelope)
            bodies.append(body)
        return envelopes, bodies, chainhash, end

    def _prepared(self, after: tuple[int, str] | None = None) -> Batch:
        """A batch ready to send (subjects, bodies, signed headers), read after the recorded
        position or, read ahead, after `after` (the position and hash the batch in flight ends at)."""
        def read(conn: Connection) -> tuple[int, list[Message], int, str, int | None]:
            position, chainhash = self._position_now(conn) if after is None else after
            if tracing.enabled():  # traced, each message carries its publish span: rendered here
                return position, [], position, chainhash, None
            return position, *self.outbox.read(conn, position, chainhash, self.batch_size)

        if after is None:
            # The usual round: one connection for the position and the prepared rows, in autocommit
            # and not pinged first (store/db.read_unpinged: run again on a new connection if it was
            # dead): a ping, BEGIN and ROLLBACK fewer per round on PostgreSQL (issue 15).
            position, messages, prepared, last_hash, log_end = read_unpinged(self.engine, read)
        else:
            # Read ahead while a backlog drains: in a transaction that forbids PostgreSQL's sort
            # (outbox_reads.ordered_by_index: with the queue's stale statistics it sorted the whole
            # backlog for every batch). The backlog's first batch is read as usual, sorted once.
            with self.engine.connect() as conn:
                ordered_by_index(conn, ride=True)
                position, messages, prepared, last_hash, log_end = read(conn)
        last, envelopes, chain = prepared, list[Envelope](), list[dict[str, Any]]()
        if log_end is not None and (log_end == prepared or len(messages) == self.batch_size):
            end = log_end  # the prepared rows reach the log's end (issue 15: no read of the log after them)
        elif len(messages) < self.batch_size:  # the events after the prepared ones, rendered here
            envelopes, bodies, last_hash, end = self._rendered_after(prepared, last_hash,
                                                                     self.batch_size - len(messages))
            messages += self._messages(envelopes, bodies)
            chain = chain_rows(self.spec.name, envelopes)
            last = envelopes[-1].sequence if envelopes else prepared
        else:
            end = self.reader.max_position()
        return Batch(position, end, last, last_hash, messages, prepared, chain, envelopes)

    def _messages(self, envelopes: list[Envelope], bodies: list[bytes] | None = None) -> list[Message]:
        """Subject, body and headers (with the producer's signature) of each envelope; `bodies`:
        their to_json() rendered already."""
        messages = []
        for k, e in enumerate(envelopes):
            body = bodies[k] if bodies is not None else e.to_json()
            headers = {"Nats-Msg-Id": e.id}
            if self.signer is not None:
                headers[HEADER] = self.signer.header(body)
            messages.append((nats_subject(self.spec.service, e), body, headers))
        return messages

    async def _send(self, batch: Batch) -> InFlight:
        """Publish a batch (one atomic batch); after a full one (a backlog), start reading the next."""
        # Traced (only when OTEL_* asks): each envelope carries its publish span's context, so its
        # messages are rendered and signed here (a batch read traced has no prepared rows, _prepared).
        envelopes, traced = tracing.publishing(self.spec.name, lambda e: nats_subject(self.spec.service, e),
                                               batch.envelopes)
        messages = batch.messages
        if envelopes is not batch.envelopes:  # tracing turned on after the batch was read: prepared ones as they are
            messages = messages[:len(messages) - len(envelopes)] + self._messages(envelopes)
        # One atomic batch: stored whole or not at all, its first message expecting the stream's end
        # (messaging/relay_order.py).
        expected = self._expecting(batch.after, len(messages))
        try:
            first, ack = await publish_atomic(self.bus, messages, expected, self._answered)
        except BaseException as error:
            traced.end(error)
            raise
        flight = InFlight(batch, ack, traced, None, expected, first)
        if len(messages) == self.batch_size:
            # The next batch is read while this one's PubAck comes back, submitted to its thread at
            # once. Submitted before the publishing instead, its thread contended for the GIL with
            # the publishing loop: ~2-3 µs an event more CPU on SQLite (five runs each), no faster.
            flight.ahead = asyncio.get_running_loop().run_in_executor(
                None, self._prepared, (batch.last, batch.chainhash))
        return flight

    def _record_behind(self, batch: Batch) -> None:
        """Record `batch` (its PubAck in) in a thread while the loop goes on: the batch after it is
        in flight, and its record now overlaps that one's PubAck and the publishing of the next
        (issue 15: awaited before them, the records were a third of a backlog's wall time on
        PostgreSQL). One at a time: every other record, the comparison with the stream and the
        end of a run wait for it first (`_recorded_behind`), so records stay in order."""
        self._recording = (asyncio.ensure_future(asyncio.to_thread(self._record_batch, batch)), batch)

    async def _recorded_behind(self, *, quiet: bool = False) -> None:
        """Wait for the record running behind the loop, if any, and say the position it recorded;
        its failure is raised (`quiet`: logged, where the comparison with the stream comes next and
        moves the record to where the stream ends, as after a crash before a record). Cancelled,
        the record stays to be waited for (a thread's record cannot be stopped)."""
        recording = self._recording
        if recording is None:
            return
        task, batch = recording
        await asyncio.wait([task])
        self._recording = None
        error = task.exception()
        if error is None:
            self.health.observe(batch.last, handled=len(batch.messages))
        elif not quiet:
            raise error
        else:
            log.warning("relay %s: the record of the batch up to position %s failed (%s: %s)", self.spec.name,
                        batch.last, type(error).__name__, error)

    def _record_batch(self, batch: Batch) -> None:
        """Record a batch whose PubAck came: its position and its relay_chain rows. A round of
        prepared messages only (the usual one) is kept to be recorded with the next ones
        (relay_records.py, `_pending`); any other record writes the rounds kept first."""
        prepared = (batch.after, batch.prepared) if batch.prepared > batch.after else None
        forget = len(batch.messages) < self.batch_size
        if prepared and forget and not batch.chain and \
                self._record_later(batch.after, batch.last, batch.chainhash, len(batch.messages)):
            if self._record_due():
                self._record_pending()
            return
        self._record_pending()
        self._record(batch.last, batch.chainhash, batch.chain, prepared, forget=forget)
