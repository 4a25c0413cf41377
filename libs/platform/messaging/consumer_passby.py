"""The consumer runner passes by messages that change nothing (consumer.py applies the rest).

Issue 15: dispatch follows the whole INTAKE stream for a handful of event types, and each batch of
consultations cost each of its consumers a transaction that only moved a position. A handler that
says which messages change something (`changes`) and can record its position alone
(`record_position`) is not handed the leading messages of the buffer that change nothing: while
the runner runs, only its kept position moves past them, owed to the database on the loops'
deferred clock (messaging/deferred.py), as a log follower does (readmodels/follower.py). The owed
position is recorded with the next effect (an apply or a dead letter records a later position in
its own transaction), or on its own once `record_seconds` have passed or a batch's worth was passed
by, before the server-side consumer is made again (so it starts after them), and when the run stops.

The same guarantees as an apply:
- exactly once: a message passed by has no effect to apply twice; a crash loses only the owed
  position, and the consumer made again at the recorded position + 1 is handed those messages
  again and passes them by again. A message at or below the kept position is dropped unapplied
  (consumer.py's `_drop_applied`), as one at or below the recorded position always was;
- in order: only a prefix of the buffer is passed by, never a message after one to be applied;
- a message that is not a genuine envelope is never passed by: it ends the prefix and goes the
  usual way (dead-lettered);
- readiness and metrics show the kept position (the loop's progress); waits for a consumer's
  position (tests' `drained`) ask `position()`, the kept one.
A handler whose positions a rebuild compares with the streams' ends (reporting's projection) does
not say `changes` False: it is handed every message (readmodels/projection.py, pass_by_unhandled).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from libs.platform.health import LoopHealth
from libs.platform.messaging.cloudevents import Envelope, InvalidEnvelope
from libs.platform.messaging.deferred import DeferredRecord, RecordSeconds
from libs.platform.messaging.signing import ForgedEvent
from libs.platform.messaging.streams import StreamSpec

log = logging.getLogger("libs.platform.messaging.consumer")  # one logger for the whole runner


class PassBy:
    """Pass-by state of ConsumerRunner (consumer.py), which calls `_init_pass_by`."""

    spec: StreamSpec
    handler: Any
    durable: str
    health: LoopHealth
    batch_size: int
    verifier: Any
    _buffer: list[Any]
    _last_sequence: int | None
    _position: int | None
    _passing: DeferredRecord[int]  # the kept position owed to the database (None: nothing owed)
    _changes: Callable[[Envelope], bool] | None  # the handler's, when it can record a position alone

    if TYPE_CHECKING:  # ConsumerRunner's
        def _envelope(self, msg: Any, *, after: int | None) -> Envelope: ...

    def _init_pass_by(self, record_seconds: float) -> None:
        self._passing = DeferredRecord(record_seconds)
        changes = getattr(self.handler, "changes", None)
        self._changes = changes if hasattr(self.handler, "record_position") else None  # taken once

    record_seconds = RecordSeconds("_passing")

    def position(self) -> int:
        """Where the consumer is in its stream: the position kept while it runs (ahead of the
        recorded one after messages passed by), else the recorded one."""
        kept = self._position
        return kept if kept is not None else self.handler.position(self.spec.name)

    def _shown(self, position: int) -> int:
        """A position read from the database, as far as the messages passed by take it."""
        owed = self._passing.value
        return position if owed is None else max(position, owed)

    def _pass_by(self, end: int) -> int:
        """Take the buffer's leading messages up to stream position `end` that change nothing out of
        it, unapplied; how many."""
        if self._changes is None:
            return 0
        n, after = 0, self._last_sequence
        for msg in self._buffer:
            if msg.metadata.sequence.stream > end:
                break
            try:
                envelope = self._envelope(msg, after=after)
            except (ForgedEvent, InvalidEnvelope):
                break  # the usual way: dead-lettered
            if self._changes(envelope):
                break
            after = envelope.sequence if self.verifier is not None else None
            n += 1
        if n:
            last = self._buffer[n - 1].metadata.sequence.stream
            del self._buffer[:n]
            self._last_sequence = after
            self._position = last
            self._passing.keep(last, n)
            self.health.observe(last)
        return n

    async def _record_passed(self, *, due: bool = True) -> None:
        """Record the position owed (a transaction with no effect); with `due`, only once it is due.
        A failure keeps it owed (recorded next time) and raises."""
        if not self._passing.owed or (due and not self._passing.due(self.batch_size)):
            return
        position = self._passing.take()
        if position is None:
            return
        self.health.transactions_total += 1
        try:
            await asyncio.to_thread(self.handler.record_position, self.spec.name, position)
        except BaseException:
            self._passing.keep(position, 0)
            raise

    async def _record_at_stop(self) -> None:
        try:
            await self._record_passed(due=False)
        except Exception as e:  # noqa: BLE001 - the database gone, the lease lost: passed by again next time
            log.warning("consumer %s: position passed by not recorded at stop: %s: %s", self.durable,
                        type(e).__name__, e)
        self._passing.clear()

    async def subscribe(self) -> None:
        """Made again at the recorded position + 1: what was passed by is recorded first, so it is
        not handed out again."""
        await self._record_passed(due=False)
        await super().subscribe()  # type: ignore[misc]  # Batches', after this in ConsumerRunner's bases
