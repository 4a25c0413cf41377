"""The consumer runner: applies one stream strictly in order from the position in our database (the
server-side consumer and its buffer: delivery.py; ConsumerRunner is a Delivery).

Holes in *stream* sequences (deleted or purged messages) are not holes in the consumer sequence:
the server skips them. A message that keeps failing (max_deliver attempts) or is not a CloudEvent
goes to `deadletter.<consumer>` with the reason, is kept in the service's dead-letter table (readiness
counts it until it is resolved), and its position is recorded as skipped. An infrastructure failure
(the database unreachable or locked, a lost connection) is retried with back-off, never dead-lettered.

Cheap batches (issue 15: a batch of one or two messages, the usual size when a consumer keeps up,
cost three trips to a worker thread, two of them only to read the position back, each a pooled
connection and its queries). While subscribed, the runner keeps the handler's position as its own
commits left it, as the relay and the log followers do: it is read when the consumer is (re)made
and again after any failed apply, so a rebuild's fence (an apply that fails, then a position read
that raises ProjectionRebuilt, readmodels/rebuilds.py) and a database that moved under us are still
seen. A position kept is ahead of the recorded one only past messages that change nothing, passed
by unapplied and recorded later (consumer_passby.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from nats.js import JetStreamContext

from libs.platform.health import LoopHealth, LoopSuperseded
from libs.platform.messaging.bisection import Bisection
from libs.platform.messaging.bus import Bus
from libs.platform.messaging.cloudevents import Envelope, InvalidEnvelope
from libs.platform.messaging.consumer_batches import Batches
from libs.platform.messaging.consumer_passby import PassBy
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.messaging.delivery import DECODED, STREAM_WAIT_SECONDS, Delivery, Handler, StreamMissing
from libs.platform.messaging.signing import EventVerifier, ForgedEvent
from libs.platform.messaging.stream_renewed import StreamOrigin
from libs.platform.messaging.streams import StreamSpec
from libs.platform.messaging.transient import is_transient
from libs.platform.store.commits import sleep_or_stop, unless_stopped

__all__ = ["ConsumerRunner", "Handler", "StreamMissing", "is_transient"]

log = logging.getLogger(__name__)

class ConsumerRunner(PassBy, Batches, Delivery):
    def __init__(
        self,
        *,
        bus: Bus,
        spec: StreamSpec,
        handler: Handler,
        max_deliver: int = 5,
        # Up to this many messages fetched and applied in one transaction (ServiceSpec.consumer_batch_size).
        batch_size: int = 500,
        idle_check_seconds: float = 2.0,
        end_check_seconds: float = 1.0,
        after_apply: Callable[[int], None] | None = None,
        dead_letters: DeadLetters | None = None,
        verifier: EventVerifier | None = None,
        record_seconds: float = 1.0,  # messages passed by, recorded at most this late (consumer_passby.py)
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
        self._origin = StreamOrigin(dead_letters, self.durable, spec.name)
        # The producer's signature on every message (messaging/signing.py); the services always
        # give one, tests of delivery alone may not.
        self.verifier = verifier
        self.health = LoopHealth("consumer", self.durable, stream=spec.name)
        self.transient_failures = self.dead_lettered = self.applied = self.resubscribed = 0
        self._failures: dict[int, int] = {}
        self._bisection = Bisection()
        self._sub: JetStreamContext.PullSubscription | None = None
        self._buffer: list = []  # delivered, not yet applied, in order
        self._consumer_seq = 0  # consumer sequence of the last message taken from the server
        self._received = 0  # stream sequence of the last message taken from the server
        self._pending_after = 0  # what the server still holds after the last message taken
        self._idle_since: float | None = None
        self._idle_suspect = 0
        self._last_sequence: int | None = None  # log position of the last genuine event applied
        # While subscribed: the handler's position as this runner's commits and passing by left it (None: ask it).
        self._position: int | None = None
        self._init_pass_by(record_seconds)

    # -- one round --------------------------------------------------------------------------
    async def step(self, timeout: float = 1.0) -> int:
        """Fetch a batch when the buffer is empty, then apply the buffer in order; returns how many
        messages were handled (applied, skipped as already applied, or dead-lettered)."""
        if self.health.superseded:  # seen by a check of the service's own (reporting's stamp job)
            raise LoopSuperseded(self.health.superseded)
        if self._sub is None:
            await self.subscribe()
        fetched = bool(self._buffer) or await self._fetch(max(self._passing.wait(timeout), 0.05))
        with self.health.round():  # the fetch above is the wait for work; from here on, the work
            ahead = self._fetch_ahead(timeout) if fetched else None
            try:
                handled = await self._apply_buffer() if fetched else 0
            except BaseException:
                if ahead is not None:  # what it was handed in flight is taken by the next fetch (or the gap seen)
                    ahead.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await ahead
                raise
            if ahead is not None:
                await ahead
            await self._record_passed()
        return handled

    async def _position_now(self) -> int:
        """The handler's position: as this runner's last commit or pass-by left it, else read (and
        taken as far as the messages passed by go)."""
        if self._position is None:
            self._position = self._shown(await asyncio.to_thread(self.handler.position, self.spec.name))
        return self._position

    async def _apply_buffer(self) -> int:
        """Apply what is buffered now (never more: _fetch_ahead) in order, in batches where the
        handler takes them (consumer_batches.py: what a failed batch does), else one at a time."""
        handled = await self._drop_applied()
        end = self._buffer[-1].metadata.sequence.stream if self._buffer else 0
        apply_batch = getattr(self.handler, "apply_batch", None)
        while self._buffer and self._buffer[0].metadata.sequence.stream <= end:
            if passed := self._pass_by(end):  # changes nothing: not applied (consumer_passby.py)
                handled += passed
                continue
            n = self._batch_length(end) if apply_batch is not None else 1
            if n >= 2 and apply_batch is not None:
                applied = await self._apply_prefix(n, apply_batch, is_transient)
                if applied is None:  # backed off after an infrastructure failure: the next step tries again
                    self._position = None  # (a commit whose answer was lost may have moved it)
                    return handled
                if applied < 0:  # failed: the position read again (a rebuild's fence raises there)
                    self._position = None
                    handled += await self._drop_applied()
                    continue
                if applied:
                    handled += applied
                    continue
            if not await self._apply_head():
                return handled
            handled += 1
        await self._report(handled)
        return handled

    async def _drop_applied(self) -> int:
        """Drop from the buffer what the recorded position covers (a consumer made again at an older
        position, a position that moved under us); how many."""
        position = await self._position_now()
        dropped = 0
        while self._buffer and self._buffer[0].metadata.sequence.stream <= position:
            self._buffer.pop(0)
            dropped += 1
        return dropped

    async def _apply_head(self) -> bool:
        """The buffer's head alone, in a transaction of its own: whether it is behind us (applied
        or dead-lettered); False after a failure, which stops the buffer there."""
        msg = self._buffer[0]
        seq = msg.metadata.sequence.stream
        envelope = None
        try:
            envelope = self._envelope(msg, after=self._last_sequence)
            self.health.transactions_total += 1
            await asyncio.to_thread(self.handler.apply, envelope, self.spec.name, seq)
        except ForgedEvent as e:
            await self._dead_letter(seq, f"forged event: {e}")
        except InvalidEnvelope as e:
            await self._dead_letter(seq, f"invalid envelope: {e}")
        except LoopSuperseded:
            raise  # says nothing about the message: this replica stops the loop (_run)
        except Exception as e:  # noqa: BLE001 - the buffer stays; this message is retried first
            self._position = None  # read again: the failure may be a rebuild's fence, or the database
            await self._failed(seq, e)
            gone = not self._buffer or self._buffer[0] is not msg  # dead-lettered after its attempts
            if gone and envelope is not None and self.verifier is not None:
                self._last_sequence = envelope.sequence  # a genuine event, behind us now
            return False
        else:
            self._last_sequence = envelope.sequence if self.verifier is not None else None
            self.applied += 1
            self.transient_failures = 0
            self._failures.pop(seq, None)
            self.health.observe(seq)  # a slow one-by-one buffer shows its progress as it goes
            self._applied(seq)
        self._buffer.pop(0)
        return True

    def _applied(self, last: int) -> None:
        """Committed up to `last`: the position kept (a batch's is shown when the buffer is done),
        and what was passed by before it recorded with it."""
        self._position = last
        self._passing.clear()
        if self.after_apply is not None:
            self.after_apply(last)

    def _envelope(self, msg: Any, *, after: int | None) -> Envelope:
        """The message's envelope, once its producer's signature is checked, and once it is shown
        to be new: from this stream's producer, and later in its log than the last one applied
        (`after`). A signed message copied onto the stream again (a replay) fails the second."""
        decoded = vars(msg).pop(DECODED, None)  # decoded ahead (delivery.decode_ahead), or now
        if self.verifier is None:
            return decoded or Envelope.from_json(msg.data)
        self.verifier.check(self.spec.service, msg.data, msg.headers)
        envelope = decoded or Envelope.from_json(msg.data)
        if envelope.source != f"/tsunagu/{self.spec.service}":
            raise ForgedEvent(f"an event of {envelope.source} on {self.spec.name}")
        if after is not None and envelope.sequence <= after:
            raise ForgedEvent(f"replayed: log position {envelope.sequence} after {after} was applied")
        return envelope

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

    async def _lettered(self, seq: int, reason: str) -> None:
        """Say that the message at `seq` is dead (published and kept): before the position moves past it."""
        body = json.dumps({"consumer": self.durable, "stream_sequence": seq, "reason": reason})
        await self.bus.client.publish(
            f"deadletter.{self.durable}", body.encode(), headers={"Tsunagu-Reason": reason[:200]}
        )
        if self.dead_letters is not None:
            await asyncio.to_thread(self.dead_letters.record, consumer=self.durable, stream=self.spec.name,
                                    position=seq, reason=reason)
        log.error("consumer %s: seq %s dead-lettered: %s", self.durable, seq, reason)

    async def _dead_letter(self, seq: int, reason: str) -> None:
        await self._lettered(seq, reason)
        self._position = None  # unknown until the skip has committed
        await asyncio.to_thread(self.handler.skip, self.spec.name, seq, reason)
        self._position = seq
        self._passing.clear()  # recorded past it
        self._failures.pop(seq, None)
        self.dead_lettered += 1
        self.health.succeeded()  # progress: the failures before it were this message's

    async def run(self, stop: asyncio.Event) -> None:
        self._new_run()
        self._stop = stop
        self._passing.clear()
        await unless_stopped(self.bus.wait_connected(), stop)  # NATS may never come
        watch = asyncio.create_task(self._watch_end(stop))
        try:
            await self._run(stop)
            await self._record_at_stop()
        finally:
            self._passing.clear()
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
            except LoopSuperseded as e:  # a newer release's replica projects now: stop here for good
                self.health.superseded = str(e)
                log.error("consumer %s stopped for good: %s", self.durable, e)
                await self._unsubscribe()
                raise
            except Exception as e:  # noqa: BLE001 - bus hiccup or a crash after a commit: start again
                log.warning("consumer %s: %s: %s", self.durable, type(e).__name__, e)
                self.health.failed(e)
                await self._unsubscribe()
                self._buffer = []
                await sleep_or_stop(stop, 0.5)
        await self._unsubscribe()
