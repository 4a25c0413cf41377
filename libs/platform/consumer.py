"""The consumer runner: a durable pull consumer applying one stream strictly in order.

A handler writes its effect and the stream position in one transaction; the runner acks after
that. A redelivered message at or below the recorded position is acked and skipped. A failure
stops the batch there (the rest is nak'ed, so nothing after it is applied first). A message that
keeps failing (max_deliver attempts) or is not a CloudEvent goes to `deadletter.<durable>` with the
reason, is kept in the service's dead-letter table (readiness counts it until it is resolved), and
its position is recorded as skipped.

An infrastructure failure (the database unreachable or locked, a dropped connection) says nothing
about the message: it is retried without limit, with back-off, and never dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Protocol

import sqlalchemy.exc
from eventsourcing import persistence
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from libs.platform.bus import Bus
from libs.platform.cloudevents import Envelope, InvalidEnvelope
from libs.platform.deadletters import DeadLetters
from libs.platform.streams import StreamSpec

log = logging.getLogger(__name__)

# Failures of the infrastructure rather than of the message. An OperationalError is one only when
# it says so: SQLite also raises it for "no such column", which retrying would never cure.
TRANSIENT = (
    persistence.InterfaceError, persistence.ConnectionUnavailableError, sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError, sqlalchemy.exc.TimeoutError, ConnectionError, TimeoutError,
)
OPERATIONAL = (persistence.OperationalError, sqlalchemy.exc.OperationalError)
TRANSIENT_WORDS = ("database is locked", "connection", "could not connect", "server closed", "timeout",
                   "terminating", "the database system is", "could not serialize", "deadlock")
RETRYING_TOO_LONG = 10  # consecutive infrastructure failures before readiness says so


def is_transient(e: BaseException) -> bool:
    for error in (e, e.__cause__):
        if isinstance(error, TRANSIENT):
            return True
        if isinstance(error, OPERATIONAL) and any(w in str(error).lower() for w in TRANSIENT_WORDS):
            return True
    return False


class Handler(Protocol):
    name: str

    def position(self, stream: str) -> int: ...

    def apply(self, envelope: Envelope, stream: str, position: int) -> None:
        """Write the effect and the new position in one transaction."""

    def skip(self, stream: str, position: int, reason: str) -> None:
        """Record the position of a dead-lettered message, with no effect."""

    # Optional: `apply_batch(envelopes, stream, last_position)` applies consecutive messages in
    # one transaction; the runner uses it when a batch continues the position without a gap.


class ConsumerRunner:
    def __init__(
        self,
        *,
        bus: Bus,
        spec: StreamSpec,
        handler: Handler,
        ack_wait: float = 30.0,
        max_deliver: int = 5,
        batch_size: int = 200,
        before_ack: Callable[[int], None] | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self.bus = bus
        self.spec = spec
        self.handler = handler
        self.durable = f"{handler.name}-{spec.name.lower()}"
        self.ack_wait = ack_wait
        self.max_deliver = max_deliver
        self.batch_size = batch_size
        self.before_ack = before_ack  # fault-injection hook: after the commit, before the ack
        self.dead_letters = dead_letters
        self.transient_failures = 0
        self.dead_lettered = 0
        self.applied = 0
        self.redelivered_skipped = 0
        self._failures: dict[int, int] = {}
        self._sub = None

    async def subscribe(self) -> None:
        """Bind the durable consumer. When the handler's recorded position is behind what the
        durable has acknowledged (its read model was rebuilt or restored from a backup), the
        durable is recreated to deliver again from the handler's position."""
        await self.bus.ensure_stream(self.spec)
        js = self.bus.js
        position = await asyncio.to_thread(self.handler.position, self.spec.name)
        try:
            info = await js.consumer_info(self.spec.name, self.durable)
            if info.ack_floor is not None and (info.ack_floor.stream_seq or 0) > position:
                log.warning("consumer %s: handler at %s, durable acked %s: replaying", self.durable, position,
                            info.ack_floor.stream_seq)
                await js.delete_consumer(self.spec.name, self.durable)
        except NotFoundError:
            pass
        self._sub = await js.pull_subscribe(
            f"{self.spec.service}.>",
            durable=self.durable,
            stream=self.spec.name,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=position + 1,
                ack_wait=self.ack_wait,
                max_ack_pending=10_000,
            ),
        )

    async def step(self, timeout: float = 1.0) -> int:
        """Fetch one batch and apply it in order; returns the number of messages handled."""
        if self._sub is None:
            await self.subscribe()
        try:
            msgs = await self._sub.fetch(self.batch_size, timeout=timeout)
        except (NatsTimeout, asyncio.TimeoutError):  # nats-py raises either when nothing came
            return 0
        stream = self.spec.name
        position = await asyncio.to_thread(self.handler.position, stream)
        if await self._apply_in_one_go(msgs, position):
            return len(msgs)
        for i, msg in enumerate(msgs):
            seq = msg.metadata.sequence.stream
            if seq <= position:
                self.redelivered_skipped += 1
                await msg.ack()
                continue
            if seq > position + 1 and not await self._gap_is_real(position):
                # An earlier message is still on its way back (redelivery): wait for it.
                await self._nak_all(msgs[i:], delay=0.1)
                return i
            try:
                envelope = Envelope.from_json(msg.data)
                await asyncio.to_thread(self.handler.apply, envelope, stream, seq)
                self.applied += 1
                self._failures.pop(seq, None)
            except InvalidEnvelope as e:
                await self._dead_letter(msg, seq, f"invalid envelope: {e}")
                position = seq
                continue
            except Exception as e:  # noqa: BLE001 - stop the batch here; redelivery retries it
                if is_transient(e):
                    self.transient_failures += 1
                    log.warning("consumer %s: seq %s: infrastructure failure (%s); retrying", self.durable, seq, e)
                    await self._nak_all(msgs[i:], delay=min(0.2 * self.transient_failures, 5.0))
                    return i
                # Count our own attempts: num_delivered also counts out-of-order send-backs.
                failures = self._failures[seq] = self._failures.get(seq, 0) + 1
                if failures >= self.max_deliver:
                    await self._dead_letter(msg, seq, f"{type(e).__name__}: {e}")
                    position = seq
                    continue
                log.error("consumer %s: seq %s failed (%s); stopping the batch", self.durable, seq, e)
                delay = min(0.2 * failures, 2.0)
                await self._nak_all(msgs[i:], delay=delay)
                return i
            position = seq
            self.transient_failures = 0
            if self.before_ack is not None:
                self.before_ack(seq)
            await msg.ack()
        return len(msgs)

    async def _apply_in_one_go(self, msgs: list, position: int) -> bool:
        """The fast path: a batch that continues the recorded position without a gap, whose
        messages all decode, applied in one transaction. Anything unusual (a redelivery, a gap,
        a bad envelope, a failure) takes the message-by-message path instead."""
        apply_batch = getattr(self.handler, "apply_batch", None)
        seqs = [m.metadata.sequence.stream for m in msgs]
        if apply_batch is None or len(msgs) < 2 or seqs != list(range(position + 1, position + 1 + len(msgs))):
            return False
        try:
            envelopes = [Envelope.from_json(m.data) for m in msgs]
            await asyncio.to_thread(apply_batch, envelopes, self.spec.name, seqs[-1])
        except Exception as e:  # noqa: BLE001 - retried one by one, which finds the culprit
            log.info("consumer %s: batch of %s fell back to one by one (%s)", self.durable, len(msgs), e)
            return False
        self.applied += len(msgs)
        for seq, msg in zip(seqs, msgs, strict=True):
            if self.before_ack is not None:
                self.before_ack(seq)
            await msg.ack()
        return True

    async def _nak_all(self, msgs: list, *, delay: float) -> None:
        # The first one comes back first; the rest a little later, and the sequence check
        # above sends back any that overtake it.
        for k, msg in enumerate(msgs):
            await msg.nak(delay=delay + (0.05 if k else 0))

    async def _gap_is_real(self, position: int) -> bool:
        """Messages before the stream's first sequence were purged: they will not come back.
        (Our streams are never trimmed inside, so there are no other gaps.)"""
        info = await self.bus.js.stream_info(self.spec.name)
        return position + 1 < info.state.first_seq

    async def _dead_letter(self, msg, seq: int, reason: str) -> None:  # noqa: ANN001
        body = json.dumps({"consumer": self.durable, "stream_sequence": seq, "reason": reason})
        await self.bus.nc.publish(
            f"deadletter.{self.durable}", body.encode(), headers={"Tsunagu-Reason": reason[:200]}
        )
        if self.dead_letters is not None:  # kept before the position moves past it
            await asyncio.to_thread(self.dead_letters.record, consumer=self.durable, stream=self.spec.name,
                                    position=seq, reason=reason)
        await asyncio.to_thread(self.handler.skip, self.spec.name, seq, reason)
        self._failures.pop(seq, None)
        self.dead_lettered += 1
        log.error("consumer %s: seq %s dead-lettered: %s", self.durable, seq, reason)
        await msg.ack()

    async def run(self, stop: asyncio.Event) -> None:
        await self.bus.wait_connected()
        while not stop.is_set():
            try:
                await self.step()
            except Exception as e:  # noqa: BLE001 - bus hiccup: resubscribe and go on
                log.warning("consumer %s: %s: %s", self.durable, type(e).__name__, e)
                self._sub = None
                try:
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
                except asyncio.TimeoutError:
                    pass
