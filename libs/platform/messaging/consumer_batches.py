"""The consumer runner's batches (consumer.py applies the buffer with them): consecutive messages in
one transaction, and what a failed one does.

A failed batch used to send the whole buffer down the one-transaction-per-message path: with
reporting's batch of 2,000 and one fetched ahead, a failure of the database for a moment, or one
poison message, cost up to 4,000 transactions. Now a failure is proportionate:

- an infrastructure failure (consumer.is_transient) says nothing about the messages: the same
  batch again after a back-off, as long as it takes;
- any other failure: the bisection of messaging/bisection.py (shared with the log followers): the
  same batch once more, then halves of the prefix known to fail, down to the message that fails
  alone, tried alone as before (its attempts counted, dead-lettered after max_deliver); the rest
  of the prefix known to fail (two messages at most) goes one at a time too (a second poison
  beside it is found at once), and everything after it in whole batches again.
- a message that is not a valid, genuinely signed envelope ends the batch before it: what comes
  before is applied together, the message itself alone (dead-lettered at once).

Failures in a row: a bisection counts as one (bisection.py); a dead letter is progress and ends the
run. So poisons in one batch, each found and dead-lettered, never make the consumer unready (the
open dead letters do, as they should); a failure that lasts (the database down) does.

A batch is always a prefix of the buffer, applied in order and committed with its last position:
nothing after a failed message is applied before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from libs.platform.health import LoopHealth, LoopSuperseded
from libs.platform.messaging.bisection import Bisection
from libs.platform.messaging.cloudevents import Envelope, InvalidEnvelope
from libs.platform.messaging.signing import ForgedEvent
from libs.platform.messaging.streams import StreamSpec

log = logging.getLogger("libs.platform.messaging.consumer")  # one logger for the whole runner


class Batches:
    """Batch state and the batch apply of ConsumerRunner (consumer.py), which sets these up."""

    spec: StreamSpec
    durable: str
    health: LoopHealth
    applied: int
    transient_failures: int
    _buffer: list[Any]
    _last_sequence: int | None
    verifier: Any
    _bisection: Bisection  # the search for the message that fails alone (set up by ConsumerRunner)

    if TYPE_CHECKING:  # ConsumerRunner's
        def _envelope(self, msg: Any, *, after: int | None) -> Envelope: ...

        def _applied(self, last: int) -> None: ...

        async def _failed(self, seq: int, e: Exception) -> None: ...

    async def subscribe(self) -> None:
        """Made again (delivery.py), at a position that may be another's (a rebuild): what was known
        to fail is forgotten; the next batch is whole."""
        self._bisection.reset()
        await super().subscribe()  # type: ignore[misc]  # Delivery's, after this in ConsumerRunner's bases

    def _batch_length(self, end: int) -> int:
        """How many messages from the buffer's head the next transaction applies, up to stream
        position `end`: all of them, or half the prefix known to fail (1: the head alone)."""
        return self._bisection.length([s for m in self._buffer if (s := m.metadata.sequence.stream) <= end])

    async def _apply_prefix(self, n: int, apply_batch: Callable[[list[Envelope], str, int], None],
                            is_transient: Callable[[BaseException], bool]) -> int | None:
        """The first `n` buffered messages in one transaction (n ≥ 2) by the handler's `apply_batch`:
        how many were applied; 0 when none was and the buffer's head is to be tried alone (a bad
        envelope first or second); -1 when the batch failed (tried again, or half of it: the caller
        reads the position again first); None when it failed for the infrastructure and the runner
        backed off (the next step tries it again)."""
        batch = self._buffer[:n]
        envelopes, after = [], self._last_sequence
        for k, m in enumerate(batch):
            try:
                envelopes.append(self._envelope(m, after=after))
            except (ForgedEvent, InvalidEnvelope):
                if k < 2:
                    return 0
                batch = batch[:k]  # the bad one ends the batch: what is before it goes on
                break
            after = envelopes[-1].sequence if self.verifier is not None else None
        last = batch[-1].metadata.sequence.stream
        self.health.transactions_total += 1
        try:
            await asyncio.to_thread(apply_batch, envelopes, self.spec.name, last)
        except LoopSuperseded:
            raise  # not the messages' fault: the runner stops the loop
        except Exception as e:  # noqa: BLE001 - the messages stay in the buffer; see the module's docstring
            if is_transient(e):  # the database, not the messages: the same batch after a back-off
                await self._failed(batch[0].metadata.sequence.stream, e)
                return None
            self._batch_failed(batch, e)
            return -1
        self._bisection.applied()
        self._last_sequence = after
        self.applied += len(batch)
        self.transient_failures = 0
        del self._buffer[:len(batch)]
        self._applied(last)
        return len(batch)

    def _batch_failed(self, batch: list[Any], e: Exception) -> None:
        self._bisection.failed(self.health, e, size=len(batch), last=batch[-1].metadata.sequence.stream,
                               who=f"consumer {self.durable}", log=log)
