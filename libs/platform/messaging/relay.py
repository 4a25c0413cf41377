"""The relay: follows a service's notification log (the outbox) and publishes it to JetStream.

Each batch is published as one JetStream atomic batch (stored whole or not at all, its first message
expecting the stream's last sequence: relay_order.py) and its position is recorded only after its
PubAck has arrived. While a backlog drains, the next batch is read while one's PubAck comes back and
is published once it is in, while that batch is recorded; batches are recorded strictly in order,
each once its own PubAck is in. (A batch published before the PubAck of the one before could
overtake it on the stream when NATS restarted between the two: tests/fault/test_attack_relay_kills.py.)
A crash between publish and record leaves the stream ahead of the record, and the relay's
comparison with the stream (below) moves the record to the stream's end: nothing stored is sent
again.

What it publishes was mostly prepared when the events were saved (messaging/outbox.py): the relay
reads those bytes and publishes them, and renders (decodes, chains, signs) only the events that
have no usable prepared row (messaging/relay_batches.py). What it records: relay_records.py.

The relay compares its recorded position with the stream's end (`reconcile`) at start, after every
failed publish and after every reconnect to NATS, and publishes nothing until that comparison has
succeeded: a stream that lost its tail (JetStream acks before fsync; a power failure can lose acked
messages; a cluster's stream leader changes while PubAcks are lost) is sent the missing events
again, and a stream ahead of the record (a crash after the PubAcks, PubAcks lost) is not: every
message was stored right after its predecessor, so the stream's last event of this log proves the
ones before it. Until then its last round failed, so /readyz shows it `retrying` with its lag,
never caught up: "store and stream agree" is said only once the stream itself was asked. At each
comparison, and every few seconds while it runs, it also asks whether the stream lost messages
(deleted, purged): unready with the reason if so, publishing on (messaging/stream_gaps.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from nats.js.errors import NotFoundError
from sqlalchemy import Engine

from libs.platform.health import LoopHealth
from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import GENESIS
from libs.platform.messaging.deferred import DeferredRecord
from libs.platform.messaging.outbox import Outbox, metadata
from libs.platform.messaging.relay_batches import Batch, InFlight, RelayBatches
from libs.platform.messaging.relay_order import ATOMIC_BATCH_MAX, RelayOrder
from libs.platform.messaging.relay_records import RelayRecords
from libs.platform.messaging.signing import EventSigner
from libs.platform.messaging.stream_gaps import StreamGaps
from libs.platform.messaging.streams import StreamSpec
from libs.platform.store.commits import Wakeup, sleep_or_stop, unless_stopped
from libs.platform.store.log import LogReader

log = logging.getLogger(__name__)
__all__ = ["Batch", "Relay", "StreamUnknown"]


class Relay(RelayRecords, RelayBatches, RelayOrder, StreamGaps):
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
        record_seconds: float = 1.0,
    ) -> None:
        self.spec = spec
        self.app = application
        self.engine = engine
        self.bus = bus
        self.batch_size = min(batch_size, ATOMIC_BATCH_MAX)  # one batch is one atomic batch on the stream
        self.poll_seconds = poll_seconds
        self.ack_timeout = ack_timeout
        # Fault-injection hook, called after the PubAck and before the position is recorded.
        self.after_publish = after_publish
        self.signer = signer  # every published event signed (messaging/signing.py)
        # Rung when the application commits; `poll_seconds` is then only the fallback poll.
        self.wakeup = wakeup
        self.reader = LogReader(spec.service, application)
        self.health = LoopHealth("relay", spec.name, stream=spec.name)
        self._flight: InFlight | None = None  # published, to be recorded next (its successor may be in flight too)
        # The bus's reconnect count when the stream last agreed with the record (None: compare first).
        self._compared_at: int | None = None
        self._recorded: tuple[int, str] | None = None
        self._running = False
        self._kept = DeferredRecord(record_seconds)  # rounds published, recorded together (relay_records.py)
        metadata.create_all(engine)
        # The application's saves prepare what this relay publishes (a reader of their own: the
        # writers' threads and the relay's do not share its cache of tenants).
        self.outbox = Outbox(spec.name, LogReader(spec.service, application), signer)
        self.outbox.install(application)

    # -- reconciling with the stream ------------------------------------------------------
    async def reconcile(self) -> None:
        """Make the recorded position the log position of the stream's last event of this log, and
        the stream's last sequence the one the next batch follows (messaging/relay_order.py)."""
        self._stream_end = None
        js = self.bus.js
        try:
            last = await js.get_last_msg(self.spec.name, f"{self.spec.service}.>")
        except NotFoundError:  # no message: everything is to be sent
            own = await self._compared((0, GENESIS))
        else:
            own = await self._compared_with(last)
        # Asked after the last message: a message someone put after it meanwhile is followed (the
        # stream's end only grows; asked before, the next publish would be refused and compare again).
        info = await js.stream_info(self.spec.name)
        state = info.state
        self._stream_end = (state.last_seq, own)
        await self._gaps_seen(state, info.created)

    async def _compared_with(self, last: Any) -> int:
        """Take the stream's last message if it is an event of this log that follows its predecessor
        of this log on the stream, or else the last one that does (relay_order.py _last_in_place)."""
        return await self._past_foreign(last.seq, last)

    async def _compared(self, at: tuple[int, str]) -> int:
        recorded = await asyncio.to_thread(self.position)
        if at != recorded:
            self._drop_flight()
            log.warning("relay %s: recorded position %s, stream ends at %s: continuing from the stream",
                        self.spec.name, recorded[0], at[0])
            await asyncio.to_thread(self._take, recorded, at)
        return at[0]

    # -- publishing -----------------------------------------------------------------------
    async def publish_batch(self) -> int:
        """Record the oldest batch in flight once its PubAck is in (reading and publishing one
        first when none is); returns how many it published.

        After a full batch (a backlog) the next one is read while its PubAck comes back and is
        published once it is in, then this batch recorded behind the loop; records stay in order.
        When a batch fails, the one after it is dropped (its position was not recorded) and the
        relay starts again from its record, after asking the stream (reconcile)."""
        flight, self._flight = self._flight, None
        try:
            if flight is None:
                batch = await asyncio.to_thread(self._prepared)
                self.health.observe(batch.after, batch.end)
                if not batch.messages:
                    return 0
                flight = await self._send(batch)
            batch = flight.batch
            try:
                ack = await asyncio.wait_for(flight.ack, timeout=self.ack_timeout)
            except BaseException as error:
                cause = self._refused(batch, error, flight.first)
                flight.drop(error)
                if cause is not None:  # what /readyz says: the server's reason, not only "incomplete"
                    raise cause from error
                raise
            flight.answered()
            flight.traced.end()
            self._acknowledged(flight.expected, ack, len(batch.messages), batch.last)  # the stream's end now
            self._acknowledged_up_to(ack.seq)
            following_failed: Exception | None = None
            if flight.ahead is not None:
                # Published only now that the PubAck of the batch before it is in: published
                # before, a batch overtook the one before when NATS restarted between them (the
                # earlier batch lost with the socket, the later one held in the client's reconnect
                # buffer and delivered first), and the stream was out of log order. Its read
                # overlapped the PubAck's wait; its publishing overlaps the record below. If it
                # fails, this batch, acknowledged, is still recorded first.
                try:
                    following, flight.ahead = await flight.ahead, None
                    self.health.observe(batch.after, following.end)
                    if following.messages:
                        self._flight = await self._send(following)
                except Exception as error:  # noqa: BLE001 - raised below, once this batch is recorded
                    flight.ahead, following_failed = None, error
            if self.after_publish is not None:
                self.after_publish(batch.last)
            await self._recorded_behind()  # the batch before it first: records stay in order
            if self._flight is not None:  # the next one in flight: recorded behind it (relay_batches.py)
                self._record_behind(batch)
                return len(batch.messages)
            await asyncio.to_thread(self._record_batch, batch)
            if following_failed is not None:
                self.health.observe(batch.last, handled=len(batch.messages))
                flight = None  # recorded: nothing of it to drop
                raise following_failed
        except BaseException:
            self._stream_end = None  # what the stream holds after the record is known only by asking it
            if flight is not None:
                flight.drop()
            self._drop_flight()
            raise
        self.health.observe(batch.last, handled=len(batch.messages))
        return len(batch.messages)

    def _drop_flight(self) -> None:
        """Give up on the batch in flight: the position it was published after was not recorded."""
        flight, self._flight = self._flight, None
        if flight is not None:
            self._stream_end = None  # part of it may be stored: where the stream ends, only the stream says
            flight.drop()

    @property
    def compared(self) -> bool:
        """The stream was compared with the record since the last failed publish or reconnect."""
        return self._compared_at is not None and self._compared_at == self.bus.reconnects

    async def compare(self) -> None:
        """reconcile() unless the stream has been compared with the record since the relay
        started, a publish failed or the connection came back."""
        if self.compared:
            return
        await self._recorded_behind(quiet=True)
        await asyncio.to_thread(self._record_pending)  # first: the comparison starts from the record
        # What waits meanwhile, from the store: the lag shows while the stream cannot be asked.
        self.health.observe(*await asyncio.to_thread(self._standing))
        connection = self.bus.reconnects  # before asking: a reconnect meanwhile asks again
        self._drop_flight()  # its PubAck may never come on this connection: sent again after the comparison
        try:
            await self.reconcile()
        except Exception as e:
            raise StreamUnknown(f"cannot compare with the stream ({type(e).__name__}: {e})") from e
        self._compared_at = connection

    async def run(self, stop: asyncio.Event) -> None:
        self._compared_at = None  # every run (a replica's every tenure) starts by asking the stream
        self._recorded, self._running = None, True  # ...and reading its position
        self._kept.clear()
        try:
            await self._run(stop)
            await self._record_kept("at stop")
        finally:
            await self._recorded_behind(quiet=True)
            self._recorded, self._running = None, False
            self._kept.clear()

    async def _record_kept(self, when: str) -> None:
        """Record the rounds published and kept (relay_records.py); a failure only logs: the
        comparison with the stream, next, moves the record where the stream ends."""
        try:
            await self._recorded_behind(quiet=True)
            await asyncio.to_thread(self._record_pending)
        except Exception as e:  # noqa: BLE001 - the database gone, the lease lost
            log.warning("relay %s: rounds published not recorded %s: %s: %s", self.spec.name, when,
                        type(e).__name__, e)

    def _wait_seconds(self) -> float:
        """Until the next round: the poll, or sooner when the rounds kept are to be recorded."""
        return self._kept.wait(self.poll_seconds)

    async def _run(self, stop: asyncio.Event) -> None:
        await unless_stopped(self.bus.wait_connected(), stop)
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
                with self.health.round():
                    await self.compare()
                    published = await self.publish_batch()
                    if self._record_due():  # failing, a round's failure: compared with the stream next
                        await self._recorded_behind()
                        await asyncio.to_thread(self._record_pending)
                    self.health.succeeded()
                    backoff = 0.1
                    await self.watch_gaps()
            except Exception as e:  # noqa: BLE001 - bus down or slow: retry from the recorded position
                await self._record_kept("after a failure")  # acknowledged before the failure
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
            if published < self.batch_size:  # caught up (nothing in flight)
                if self.wakeup is not None:
                    await self.wakeup.wait(stop, self._wait_seconds())
                else:
                    await sleep_or_stop(stop, self._wait_seconds())
        self._drop_flight()


class StreamUnknown(ConnectionError):
    """The stream could not be compared with the recorded position: nothing is published until it
    can be (a retried fault of the bus, not of an event)."""
