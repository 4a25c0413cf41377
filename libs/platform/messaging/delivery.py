"""The delivery half of the consumer runner (consumer.py): the server-side pull consumer, made at
our position + 1, and the buffer of what it delivered, kept gapless.

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

The stream is its producer's to create: a runner started first waits for it (StreamMissing),
unready with "waiting for stream X" (LoopHealth.waiting_for), and starts once it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from libs.platform.health import LoopHealth
from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import Envelope, InvalidEnvelope
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.messaging.pull import take
from libs.platform.messaging.signing import EventVerifier, ForgedEvent
from libs.platform.messaging.stream_gaps import lost_before
from libs.platform.messaging.stream_renewed import StreamOrigin
from libs.platform.messaging.streams import StreamSpec
from libs.platform.store.commits import sleep_or_stop, unless_stopped

log = logging.getLogger("libs.platform.messaging.consumer")  # one logger for the whole runner
# How far back a restarted consumer looks for the last genuine message (past dead letters).
LOOK_BACK = 50

# How often a consumer looks again for a stream its producer has not created yet.
STREAM_WAIT_SECONDS = 1.0


# Where a message keeps the envelope decoded ahead of its turn (consumer.py's `_envelope` takes it).
DECODED = "tsunagu_envelope"


def decode_ahead(msgs: list[Any]) -> None:
    """Decode the envelopes of messages fetched ahead, while the batch before them is applied in a
    worker thread (issue 15: decoding a batch came between two applies, ~25 µs a message with
    nothing else under way). Only the decoding: a message is still checked (its signature, its
    place in the log) when its turn comes, on the same bytes; one that does not decode is decoded
    again then, and fails there, in order."""
    for msg in msgs:
        with contextlib.suppress(InvalidEnvelope):
            vars(msg)[DECODED] = Envelope.from_json(msg.data)


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
    # Optional, together: `changes(envelope)` (False: applying it would change nothing) and
    # `record_position(stream, position)` (the position alone, nothing if recorded as far): the
    # runner passes by what changes nothing and records its position later (consumer_passby.py).


class Delivery:
    """The server-side consumer and the buffer; ConsumerRunner (consumer.py) sets these attributes
    up and applies what is buffered."""

    bus: Bus
    spec: StreamSpec
    handler: Handler
    durable: str
    batch_size: int
    health: LoopHealth
    dead_letters: DeadLetters | None
    verifier: EventVerifier | None
    idle_check_seconds: float
    end_check_seconds: float
    resubscribed: int
    _sub: JetStreamContext.PullSubscription | None
    _buffer: list[Any]  # delivered, not yet applied, in order
    _consumer_seq: int  # consumer sequence of the last message taken from the server
    _received: int  # stream sequence of the last message taken from the server
    _pending_after: int  # what the server still holds after the last message taken
    _idle_since: float | None
    _idle_suspect: int
    _last_sequence: int | None  # log position of the last genuine event applied
    _position: int | None  # while subscribed: the handler's recorded position as our commits left it
    _origin: StreamOrigin  # the stream the positions were recorded in (stream_renewed.py)
    _stop: asyncio.Event | None = None  # the stop of the run (ConsumerRunner.run): a waiting fetch ends with it

    if TYPE_CHECKING:  # PassBy's (consumer_passby.py)
        def _shown(self, position: int) -> int: ...

        async def _lettered(self, seq: int, reason: str) -> None: ...  # ConsumerRunner's

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
        await self._origin.check(info.created, position, self._lettered)
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
        self._received = position
        self._last_sequence = await self._last_genuine_sequence(position)
        self._position = position
        self.health.observe(position)
        self.resubscribed += 1

    def _new_run(self) -> None:
        """A run reads its position, and the stream it was recorded in, afresh: a run after a lost and
        retaken lease (another replica applied meanwhile) must not start from what this replica knew."""
        self._position = None
        self._origin.forget()

    async def _unsubscribe(self) -> None:
        sub, self._sub, self._position = self._sub, None, None
        if sub is not None:
            with contextlib.suppress(Exception):  # the connection may be gone with it
                await sub.unsubscribe()

    async def _fetch(self, timeout: float, *, ahead: bool = False) -> bool:
        if self._sub is None:
            raise RuntimeError(f"consumer {self.durable} is not subscribed")
        try:
            # Given up on when the run stops (a service's stop waited for its consumers' fetches to
            # expire: most of a test's teardown). Nothing is acked: what the server was handing it is
            # handed to the next run, made at our database position + 1.
            msgs = await unless_stopped(take(self._sub, self.batch_size, timeout, waiting=self._pending_after > 0),
                                        self._stop)
        except (TimeoutError, NatsTimeout):  # nats-py raises either when nothing came
            if not ahead:  # ahead of an apply, the idle check's position read could race it (_fetch_ahead)
                await self._idle()
            return False
        if msgs is None:  # the run stopped while the fetch waited
            return False
        self._idle_since, self._idle_suspect = None, 0
        if ahead:  # before they join the buffer: there, the batch being applied may look at them
            decode_ahead(msgs)
        for msg in msgs:
            if msg.metadata.sequence.consumer != self._consumer_seq + 1:
                log.warning("consumer %s: delivery %s after %s: a message was lost on the way; starting again "
                            "from the database position", self.durable, msg.metadata.sequence.consumer,
                            self._consumer_seq)
                await self._unsubscribe()
                return False
            self._consumer_seq = msg.metadata.sequence.consumer
            if (seq := msg.metadata.sequence.stream) > self._received + 1:
                await self._across_hole(self._received + 1, seq - 1, seq + msg.metadata.num_pending)
            self._received = seq
            self._buffer.append(msg)
        if msgs:  # the end moves now, so a handler that hangs on these shows as lag that does not shrink
            self.health.fetches_total += 1
            self._pending_after = msgs[-1].metadata.num_pending
            self.health.observe(self.health.position, msgs[-1].metadata.sequence.stream + self._pending_after)
        return bool(self._buffer)

    async def _across_hole(self, first: int, last: int, last_seq: int) -> None:
        """Handed a message after sequences that hold none (deleted, purged or lost by the server): when
        they held events of the log (stream_gaps.lost_before), their effect is missing for good here, a
        dead letter kept before the position moves past them, open until an operator resolves it."""
        if await lost_before(self.bus.js, self.spec.name, first, last, last_seq):
            await self._lettered(first, f"stream sequences {first}..{last} missing (deleted, purged or lost by "
                                        f"the server) held events of the log: their effect is missing here; "
                                        f"restore the stream from the store, then rebuild")

    def _fetch_ahead(self, timeout: float) -> asyncio.Task[bool] | None:
        """The next batch, fetched while this one is applied (issue 15: fetch and apply took turns,
        so a catch-up cost their sum). Only when the server said more are waiting, so the fetch
        returns at once instead of waiting out its timeout behind an applied batch, and only one batch
        ahead. Its messages join the buffer behind those being applied, gap-checked as any fetch's:
        the apply takes the messages buffered when it began (consumer.py), never more. An empty
        fetch ahead skips the idle check: its read of the position, beside an apply, would take the
        news of a rebuild (readmodels/rebuilds.py: the first read after one raises, later ones do
        not) before that apply's fence could, and the apply would land on the emptied tables."""
        if self._sub is None or self._pending_after <= 0 or len(self._buffer) > self.batch_size:
            return None
        return asyncio.create_task(self._fetch(timeout, ahead=True))

    async def _idle(self) -> None:
        """Nothing came. Every few seconds ask the server whether that is true; a consumer it lost,
        or messages it holds but does not hand out, are fixed by making the consumer again."""
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < self.idle_check_seconds:
            return
        self._idle_since = now
        position = self._shown(await asyncio.to_thread(self.handler.position, self.spec.name))
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

