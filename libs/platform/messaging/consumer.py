"""The consumer runner: applies one stream strictly in order from the position in our database.

Why no acks. The position a handler records with its effect (one transaction) is the truth; the
server's idea of what we acknowledged is a second copy that can disagree with it. With acks and
NAKs, a crash with messages pending acknowledgement made the server send later messages first and
the one we waited for "some time later": with thousands pending it practically never came first
and consumers stalled for good (issue 13). So the runner uses a pull consumer without acks
(AckPolicy.NONE), created at *our* position + 1 whenever it (re)starts. The server then hands out
each message once, in stream order, and the consumer sequence of delivered messages has no holes:

- a hole in the consumer sequence (a message lost between server and us: a fetch that expired
  while a message was in flight, a reconnect) → the consumer is made again at position + 1;
- an empty fetch while the server says messages are pending, or a consumer the server lost (a
  restart) → made again at position + 1;
- a failure → the fetched messages stay in our buffer and are retried, in order, after a pause:
  nothing after a failed message is ever applied before it.

Holes in *stream* sequences (deleted or purged messages) are not holes in the consumer sequence:
the server skips them. A message that keeps failing (max_deliver attempts) or is not a CloudEvent
goes to `deadletter.<consumer>` with the reason, is kept in the service's dead-letter table
(readiness counts it until it is resolved), and its position is recorded as skipped. An
infrastructure failure (the database unreachable or locked, a dropped connection) says nothing
about the message: it is retried without limit, with back-off, and never dead-lettered.

The stream is its producer's to create: a runner started first waits for it (StreamMissing),
unready with "waiting for stream X" (LoopHealth.waiting_for), and starts once it exists.

Cheap batches (issue 15: a batch of one or two messages, the usual size when a consumer keeps up,
cost three trips to a worker thread, two of them only to read the position back, each a pooled
connection and its queries). While subscribed, the runner keeps the handler's position as its own
commits left it, as the relay and the log followers do: it is read when the consumer is (re)made
and again after any failed apply, so a rebuild's fence (an apply that fails, then a position read
that raises ProjectionRebuilt, readmodels/rebuilds.py) and a database that moved under us are still
seen. A position kept is never ahead of the recorded one: it is set only after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import sqlalchemy.exc
from eventsourcing import persistence
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from libs.platform.health import LoopHealth
from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import Envelope, InvalidEnvelope
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.messaging.signing import EventVerifier, ForgedEvent
from libs.platform.messaging.streams import StreamSpec
from libs.platform.store.commits import sleep_or_stop

log = logging.getLogger(__name__)
# How far back a restarted consumer looks for the last genuine message (past dead letters).
LOOK_BACK = 50

# Failures of the infrastructure rather than of the message. An OperationalError is one only when
# it says so: SQLite also raises it for "no such column", which retrying would never cure.
TRANSIENT = (
    persistence.InterfaceError, persistence.ConnectionUnavailableError, sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.TimeoutError, ConnectionError, TimeoutError,
)
OPERATIONAL = (persistence.OperationalError, sqlalchemy.exc.OperationalError)
TRANSIENT_WORDS = ("database is locked", "connection", "could not connect", "server closed", "timeout",
                   "terminating", "the database system is", "could not serialize", "deadlock")


def is_transient(e: BaseException) -> bool:
    for error in (e, e.__cause__):
        if isinstance(error, TRANSIENT):
            return True
        if isinstance(error, OPERATIONAL) and any(w in str(error).lower() for w in TRANSIENT_WORDS):
            return True
    return False


# How often a consumer looks again for a stream its producer has not created yet.
STREAM_WAIT_SECONDS = 1.0


class StreamMissing(Exception):
    """The stream does not exist yet. Only its producer creates it (its relay, at start), with its
    own settings: a consumer that created it first would choose them, and would need a permission
    to create another service's stream (deploy/nats/accounts.conf). The consumer waits instead."""


class Handler(Protocol):
    name: str

    def position(self, stream: str) -> int: ...

    def apply(self, envelope: Envelope, stream: str, position: int) -> None:
        """Write the effect and the new position in one transaction."""

    def skip(self, stream: str, position: int, reason: str) -> None:
        """Record the position of a dead-lettered message, with no effect."""

    # Optional: `apply_batch(envelopes, stream, last_position)` applies consecutive messages in
    # one transaction; the runner uses it for every batch and falls back to one by one on failure.


class ConsumerRunner:
    def __init__(
        self,
        *,
        bus: Bus,
        spec: StreamSpec,
        handler: Handler,
        max_deliver: int = 5,
        batch_size: int = 500,
        idle_check_seconds: float = 2.0,
        end_check_seconds: float = 1.0,
        after_apply: Callable[[int], None] | None = None,
        dead_letters: DeadLetters | None = None,
        verifier: EventVerifier | None = None,
    ) -> None:
        self.bus = bus
        self.spec = spec
        self.handler = handler
        self.durable = f"{handler.name}-{spec.name.lower()}"  # the consumer's name on the server
        self.max_deliver = max_deliver
        self.batch_size = batch_size
        self.idle_check_seconds = idle_check_seconds
        # How often the stream's end is asked for while a fetch waits or a batch is applied.
        self.end_check_seconds = end_check_seconds
        self.after_apply = after_apply  # fault-injection hook: after a commit
        self.dead_letters = dead_letters
        # The producer's signature on every message (messaging/signing.py); the services always
        # give one, tests of delivery alone may not.
        self.verifier = verifier
        self.health = LoopHealth("consumer", self.durable, stream=spec.name)
        self.transient_failures = 0
        self.dead_lettered = 0
        self.applied = 0
        self.resubscribed = 0
        self._failures: dict[int, int] = {}
        self._sub: JetStreamContext.PullSubscription | None = None
        self._buffer: list = []  # delivered, not yet applied, in order
        self._consumer_seq = 0  # consumer sequence of the last message taken from the server
        self._pending_after = 0  # what the server still holds after the last message taken
        self._idle_since: float | None = None
        self._idle_suspect = 0
        self._last_sequence: int | None = None  # log position of the last genuine event applied
        # While subscribed: the handler's recorded position as this runner's commits left it (None: ask it).
        self._position: int | None = None

    # -- the server-side consumer ---------------------------------------------------------
    async def subscribe(self) -> None:
        """(Re)make the consumer at our database position + 1 and bind to it. The stream is its
        producer's to create (with its settings): until it exists, StreamMissing."""
        js, stream = self.bus.js, self.spec.name
        await self._unsubscribe()
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            self.health.waiting_for = f"stream {stream}"
            raise StreamMissing(stream) from None
        self.health.waiting_for = ""
        position = await asyncio.to_thread(self.handler.position, stream)
        # The end as the stream says now: a consumer that cannot be made again shows its lag.
        self.health.observe(position, info.state.last_seq)
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(stream, self.durable)
        await js.add_consumer(stream, ConsumerConfig(
            name=self.durable, durable_name=self.durable,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=position + 1,
            filter_subject=f"{self.spec.service}.>",
            inactive_threshold=24 * 3600.0,  # a consumer nobody runs any more is removed after a day
        ))
        self._sub = await js.pull_subscribe_bind(self.durable, stream=stream)
        self._buffer, self._consumer_seq, self._idle_since, self._idle_suspect = [], 0, None, 0
        self._last_sequence = await self._last_genuine_sequence(position)
        self._position = position
        self.health.observe(position)
        self.resubscribed += 1

    async def _unsubscribe(self) -> None:
        sub, self._sub, self._position = self._sub, None, None
        if sub is not None:
            with contextlib.suppress(Exception):  # the connection may be gone with it
                await sub.unsubscribe()

    # -- one round --------------------------------------------------------------------------
    async def step(self, timeout: float = 1.0) -> int:
        """Fetch a batch when the buffer is empty, then apply the buffer in order; returns how many
        messages were handled (applied, skipped as already applied, or dead-lettered)."""
        if self._sub is None:
            await self.subscribe()
        if not self._buffer and not await self._fetch(timeout):
            return 0
        return await self._apply_buffer()

    async def _fetch(self, timeout: float) -> bool:
        if self._sub is None:
            raise RuntimeError(f"consumer {self.durable} is not subscribed")
        try:
            msgs = await self._sub.fetch(self.batch_size, timeout=timeout)
        except (TimeoutError, NatsTimeout):  # nats-py raises either when nothing came
            await self._idle()
            return False
        self._idle_since, self._idle_suspect = None, 0
        for msg in msgs:
            if msg.metadata.sequence.consumer != self._consumer_seq + 1:
                log.warning("consumer %s: delivery %s after %s: a message was lost on the way; starting again "
                            "from the database position", self.durable, msg.metadata.sequence.consumer,
                            self._consumer_seq)
                await self._unsubscribe()
                return False
            self._consumer_seq = msg.metadata.sequence.consumer
            self._buffer.append(msg)
        if msgs:  # the end moves now, so a handler that hangs on these shows as lag that does not shrink
            self._pending_after = msgs[-1].metadata.num_pending
            self.health.observe(self.health.position, msgs[-1].metadata.sequence.stream + self._pending_after)
        return bool(self._buffer)

    async def _idle(self) -> None:
        """Nothing came. Every few seconds ask the server whether that is true; a consumer it lost,
        or messages it holds but does not hand out, are fixed by making the consumer again."""
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < self.idle_check_seconds:
            return
        self._idle_since = now
        position = await asyncio.to_thread(self.handler.position, self.spec.name)
        try:
            info = await self.bus.js.consumer_info(self.spec.name, self.durable)
        except NotFoundError:
            log.warning("consumer %s: the server lost the consumer; making it again", self.durable)
            await self._unsubscribe()
            return
        pending = info.num_pending or 0
        delivered = info.delivered.consumer_seq if info.delivered else 0
        self.health.observe(position, position + pending)
        self.health.succeeded()
        if delivered > self._consumer_seq or pending:
            self._idle_suspect += 1  # delivered to nobody, or pending but not handed out
            if self._idle_suspect >= 2:
                log.warning("consumer %s: %s pending, %s delivered, %s received: making it again",
                            self.durable, pending, delivered, self._consumer_seq)
                await self._unsubscribe()
        else:
            self._idle_suspect = 0

    async def _position_now(self) -> int:
        """The handler's recorded position: as this runner's last commit left it, else read."""
        if self._position is None:
            self._position = await asyncio.to_thread(self.handler.position, self.spec.name)
        return self._position

    async def _apply_buffer(self) -> int:
        stream = self.spec.name
        position = await self._position_now()
        handled = 0
        while self._buffer and self._buffer[0].metadata.sequence.stream <= position:
            self._buffer.pop(0)  # applied before (a consumer made again at an older position)
            handled += 1
        if batch := await self._apply_in_one_go():
            await self._report(handled + batch)
            return handled + batch
        while self._buffer:
            msg = self._buffer[0]
            seq = msg.metadata.sequence.stream
            envelope = None
            try:
                envelope = self._envelope(msg, after=self._last_sequence)
                await asyncio.to_thread(self.handler.apply, envelope, stream, seq)
            except ForgedEvent as e:
                await self._dead_letter(seq, f"forged event: {e}")
            except InvalidEnvelope as e:
                await self._dead_letter(seq, f"invalid envelope: {e}")
            except Exception as e:  # noqa: BLE001 - the buffer stays; this message is retried first
                self._position = None  # read again: the failure may be a rebuild's fence, or the database
                await self._failed(seq, e)
                gone = not self._buffer or self._buffer[0] is not msg  # dead-lettered after its attempts
                if gone and envelope is not None and self.verifier is not None:
                    self._last_sequence = envelope.sequence  # a genuine event, behind us now
                return handled
            else:
                self._last_sequence = envelope.sequence if self.verifier is not None else None
                self.applied += 1
                self.transient_failures = 0
                self._failures.pop(seq, None)
                self._position = seq
                self.health.observe(seq)  # a slow one-by-one buffer shows its progress as it goes
                if self.after_apply is not None:
                    self.after_apply(seq)
            self._buffer.pop(0)
            handled += 1
        await self._report(handled)
        return handled

    async def _apply_in_one_go(self) -> int:
        """The fast path: the whole buffer in one transaction. Anything unusual (a bad envelope,
        a failure) takes the message-by-message path instead, which finds the culprit."""
        apply_batch = getattr(self.handler, "apply_batch", None)
        if apply_batch is None or len(self._buffer) < 2:
            return 0
        last = self._buffer[-1].metadata.sequence.stream
        try:
            envelopes, after = [], self._last_sequence
            for m in self._buffer:
                envelopes.append(self._envelope(m, after=after))
                after = envelopes[-1].sequence if self.verifier is not None else None
            await asyncio.to_thread(apply_batch, envelopes, self.spec.name, last)
        except Exception as e:  # noqa: BLE001 - retried one by one
            log.info("consumer %s: batch of %s fell back to one by one (%s)", self.durable, len(self._buffer), e)
            return 0
        self._position = last
        applied = len(self._buffer)
        self._last_sequence = after
        self.applied += applied
        self.transient_failures = 0
        self._buffer.clear()
        if self.after_apply is not None:
            self.after_apply(last)
        return applied

    def _envelope(self, msg: Any, *, after: int | None) -> Envelope:
        """The message's envelope, once its producer's signature is checked, and once it is shown
        to be new: from this stream's producer, and later in its log than the last one applied
        (`after`). A signed message copied onto the stream again (a replay) fails the second."""
        if self.verifier is None:
            return Envelope.from_json(msg.data)
        self.verifier.check(self.spec.service, msg.data, msg.headers)
        envelope = Envelope.from_json(msg.data)
        if envelope.source != f"/tsunagu/{self.spec.service}":
            raise ForgedEvent(f"an event of {envelope.source} on {self.spec.name}")
        if after is not None and envelope.sequence <= after:
            raise ForgedEvent(f"replayed: log position {envelope.sequence} after {after} was applied")
        return envelope

    async def _last_genuine_sequence(self, position: int) -> int | None:
        """The log position of the newest genuine message at or before stream position
        `position` (what the replay check compares with after a restart); None if unknown."""
        if self.verifier is None:
            return None
        if position == 0:
            return 0
        for seq in range(position, max(position - LOOK_BACK, 0), -1):
            try:
                msg = await self.bus.js.get_msg(self.spec.name, seq)
                body = msg.data or b""
                self.verifier.check(self.spec.service, body, msg.headers)
                return Envelope.from_json(body).sequence
            except (NotFoundError, ForgedEvent, InvalidEnvelope):
                continue  # deleted, or itself a dead letter: the one before
        log.warning("consumer %s: no genuine message in the %s before position %s: replays are checked from "
                    "the next one on", self.durable, LOOK_BACK, position)
        return None

    async def _report(self, handled: int) -> None:
        """The buffer is applied: report the position and what the server still holds."""
        position = await self._position_now()
        self.health.observe(position, position + self._pending_after + len(self._buffer), handled=handled)
        self.health.succeeded()

    async def _failed(self, seq: int, e: Exception) -> None:
        self.health.failed(e)
        if is_transient(e):
            self.transient_failures += 1
            log.warning("consumer %s: seq %s: infrastructure failure (%s); retrying", self.durable, seq, e)
            await asyncio.sleep(min(0.2 * self.transient_failures, 5.0))
            return
        # Our own count of attempts: the server does not redeliver, we retry from the buffer.
        failures = self._failures[seq] = self._failures.get(seq, 0) + 1
        if failures >= self.max_deliver:
            await self._dead_letter(seq, f"{type(e).__name__}: {e}")
            self._buffer.pop(0)
            return
        log.error("consumer %s: seq %s failed (%s); retrying it before anything after it", self.durable, seq, e)
        await asyncio.sleep(min(0.2 * failures, 2.0))

    async def _dead_letter(self, seq: int, reason: str) -> None:
        body = json.dumps({"consumer": self.durable, "stream_sequence": seq, "reason": reason})
        await self.bus.client.publish(
            f"deadletter.{self.durable}", body.encode(), headers={"Tsunagu-Reason": reason[:200]}
        )
        if self.dead_letters is not None:  # kept before the position moves past it
            await asyncio.to_thread(self.dead_letters.record, consumer=self.durable, stream=self.spec.name,
                                    position=seq, reason=reason)
        self._position = None  # unknown until the skip has committed
        await asyncio.to_thread(self.handler.skip, self.spec.name, seq, reason)
        self._position = seq
        self._failures.pop(seq, None)
        self.dead_lettered += 1
        log.error("consumer %s: seq %s dead-lettered: %s", self.durable, seq, reason)

    # -- the end, asked for on a timer ------------------------------------------------------
    async def _watch_end(self, stop: asyncio.Event) -> None:
        """Ask the server for the end of what this consumer follows every `end_check_seconds`,
        whatever the loop is doing. A fetch learns of messages only when it returns, and a handler
        that hangs on a batch fetches nothing: without this, /readyz said `ok`, lag 0 (or the lag
        of the last fetch) while messages waited. One small request to the server per period."""
        while not stop.is_set():
            await sleep_or_stop(stop, self.end_check_seconds)
            if stop.is_set():
                return
            with contextlib.suppress(Exception):  # the bus is away: the loop itself reports that
                end = await self._end_now()
                if end is not None and end > self.health.end:
                    self.health.observe(self.health.position, end)

    async def _end_now(self) -> int | None:
        """The stream position of the last message this consumer will be handed, as the server
        says now (None: not known)."""
        if not self.bus.connected:
            return None
        if self._sub is not None:
            info = await self.bus.js.consumer_info(self.spec.name, self.durable)
            if info.delivered is not None:
                return (info.delivered.stream_seq or 0) + (info.num_pending or 0)
        info = await self.bus.js.stream_info(self.spec.name)
        return info.state.last_seq

    async def run(self, stop: asyncio.Event) -> None:
        # Each run reads its position afresh: a run after a lost and retaken lease (another
        # replica applied meanwhile) must not start from the one this replica last knew.
        self._position = None
        await self.bus.wait_connected()
        watch = asyncio.create_task(self._watch_end(stop))
        try:
            await self._run(stop)
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.step()
            except StreamMissing:
                # Not a failure: the producer has not created its stream yet (unready meanwhile).
                await sleep_or_stop(stop, STREAM_WAIT_SECONDS)
            except Exception as e:  # noqa: BLE001 - bus hiccup or a crash after a commit: start again
                log.warning("consumer %s: %s: %s", self.durable, type(e).__name__, e)
                self.health.failed(e)
                await self._unsubscribe()
                self._buffer = []
                await sleep_or_stop(stop, 0.5)
        await self._unsubscribe()
