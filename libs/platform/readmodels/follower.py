"""A service's own read models, fed straight from its event log (no NATS in between).

The follower reads the notification log after the handler's recorded position and applies it
with the same Handler interface the consumer runner uses (effect + position in one transaction,
a whole batch at a time when the handler can), so list and search endpoints work even while NATS
is down. Its position, the log's end and its failures are in `health` (readiness, metrics).

An event it can never apply does not stop it: a failed batch is bisected, the event that fails
alone is dead-lettered after its attempts and the follower goes on (poison.py: the consumer
runner's mechanism, shared; infrastructure failures are retried, never dead-lettered).

It wakes when the application commits (store/commits.py) and polls every `poll_seconds` only as a
fallback for writes this process did not make.

Cheap rounds (issue 15: the followers took a fifth of the writer's CPU). While it runs, the
follower keeps its position in memory instead of reading it every round: only its own commits move
it (a take-over by another replica ends this run first, and each run, a standby's too, starts by
reading it), and one a failure may have left unknown is read again. A position kept behind the
recorded one is harmless (each event id counts once per projection, and an apply that would move
the position back fails as StalePosition); one kept ahead never happens, as it is kept only after
the commit. And a round reads the log through the service's shared reader (store/log.py,
SharedRead), so the followers woken by one commit read the log once between them.

Batches that change nothing (issue 15: the privacy records pass most events by, and their follower
wrote a position-only transaction for 154 of 1,000 consultations). While it runs, a batch none of
whose events `changes` the handler's rows is not applied: only the kept position moves past it.
The position is recorded with the next batch that changes something (effect and position in one
transaction, as always), or on its own once `record_seconds` have passed or a batch's worth of
events was passed by, and when the run stops. Nothing else depends on it being recorded at once:
- exactly once: an event passed by has no effect to apply twice; whoever starts from the recorded
  position (a restart, another replica taking over) reads those events again and passes them by;
- a standby's read-your-writes wait (Runtime.catch_up) asks `reached`: the recorded position, or
  the events after it up to the target changing nothing in this read model;
- rebuild fences are checked by the transactions that write (a rebuild makes the next one fail
  and the position be read again); readiness and metrics show the kept position (`health`, `lag`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from libs.platform.health import LoopHealth
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.consumer import Handler
from libs.platform.messaging.deadletters import DeadLetters
from libs.platform.messaging.deferred import DeferredRecord, RecordSeconds
from libs.platform.readmodels.poison import ApplyBatch, Poison
from libs.platform.readmodels.projection import StalePosition
from libs.platform.store.commits import Wakeup, sleep_or_stop
from libs.platform.store.log import LogReader, end_of
from libs.platform.store.rederivable import rederivable

log = logging.getLogger(__name__)


class LogFollower:
    def __init__(self, reader: LogReader, handler: Handler, *, batch_size: int = 500,
                 poll_seconds: float = 0.05, wakeup: Wakeup | None = None, record_seconds: float = 1.0,
                 dead_letters: DeadLetters | None = None, max_attempts: int = 5) -> None:
        self.reader = reader
        self.handler = handler
        self.stream = f"{reader.service}-log"
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.wakeup = wakeup
        self._lock = threading.Lock()  # the loop and read-your-writes callers take turns
        self._runs = 0  # runs of the loop under way (a position is kept only while one is)
        self._position: int | None = None  # while running: the handler's position, kept (None: ask it)
        # Batches that changed nothing are not applied (see the module) while a run lasts: the kept
        # position owed to the database while it is ahead of the recorded one (messaging/deferred.py).
        self._unrecorded: DeferredRecord[int] = DeferredRecord(record_seconds)
        # Taken once: whether an event changes the handler's rows (None: every event may).
        self._changes: Callable[[Envelope], bool] | None = getattr(handler, "changes", None)
        self.health = LoopHealth("follower", f"{handler.name}", stream=self.stream)
        # A batch that fails, and the event that fails alone: bisected and dead-lettered (poison.py).
        self.poison = Poison(handler, self.stream, self.health, dead_letters, max_attempts)

    record_seconds = RecordSeconds("_unrecorded")

    def position(self) -> int:
        """Where it is in the log: the position it keeps while it runs (ahead of the recorded one
        after batches that changed nothing), else the recorded one."""
        kept = self._position
        return kept if kept is not None else self.handler.position(self.stream)

    def lag(self) -> int:
        return self.reader.max_position() - self.position()

    def reached(self, target: int) -> bool:
        """Whether the read model, as recorded, is as of log position `target`: its recorded
        position is there, or no event after it up to there changes anything in it (a replica
        standing by asks this: the holder records a batch that changed nothing only later)."""
        recorded = self.handler.position(self.stream)
        if recorded >= target:
            return True
        changes = self._changes
        if changes is None:
            return False
        envelopes = self.reader.read(recorded, self.batch_size)
        covered = len(envelopes) < self.batch_size or envelopes[-1].sequence >= target
        return covered and not any(changes(e) for e in envelopes if e.sequence <= target)

    def catch_up(self) -> int:
        """Apply everything recorded so far; returns how many events were applied (a read after a
        write calls this: it reads the log afresh, never a shared read)."""
        with self._lock:
            return self._catch_up(shared=False)

    def _round(self) -> int:
        with self._lock:
            return self._catch_up(shared=True)

    def _catch_up(self, *, shared: bool) -> int:
        with rederivable():  # its batches' commits do not wait for the disk (store/rederivable.py)
            return self._apply_log(shared=shared)

    def _apply_log(self, *, shared: bool) -> int:
        applied = 0
        apply_batch = getattr(self.handler, "apply_batch", None)  # (tests replace it on a running one)
        try:
            while True:
                position = self._position if self._position is not None else self.handler.position(self.stream)
                envelopes = self.reader.read(position, self.batch_size, shared=shared)
                end = end_of(self.reader, envelopes, position, self.batch_size)
                self.health.observe(position, end)
                done = self._apply(envelopes, apply_batch, waiting=not shared)
                if done is None:  # a read after a write met an event that fails: it reads what is there
                    return applied
                applied += done
                if done:
                    self.health.observe(envelopes[done - 1].sequence, end, handled=done)
                if done < len(envelopes):  # half a batch applied, or none (poison.py: the position is read again)
                    if done and self._running:
                        self._position = envelopes[done - 1].sequence
                    continue
                if self._running:
                    self._position = envelopes[-1].sequence if envelopes else position
                if len(envelopes) < self.batch_size:
                    if self._unrecorded.due(self.batch_size):
                        self._record_kept()
                    self.health.succeeded()
                    return applied
        except BaseException:
            self._position = None  # what the failure left recorded is not known: read it again
            self._unrecorded.clear()  # (and the events passed by are read again after it)
            raise

    def _apply(self, envelopes: list[Envelope], apply_batch: ApplyBatch | None, *, waiting: bool) -> int | None:
        """How many of `envelopes`, from the first, are behind us now (applied, passed by or
        dead-lettered): all of them, a part (a bisection's half), or none (the batch failed, to be
        tried again or halved: the position is read again first). None: the event that fails alone
        was met by a read-your-writes call (`waiting`), which gives up there (poison.py)."""
        if not envelopes:
            return 0
        if apply_batch is None:
            for envelope in envelopes:
                if not self.poison.alone(envelope, waiting=waiting):
                    return None
                if self._running:
                    self._position = envelope.sequence
            return len(envelopes)
        n = self.poison.bisection.length([e.sequence for e in envelopes])
        if n == len(envelopes) and self._passes_by(envelopes):
            self._unrecorded.keep(envelopes[-1].sequence, len(envelopes))
            return n
        if n == 1:
            if not self.poison.alone(envelopes[0], waiting=waiting):
                return None
            self._unrecorded.clear()  # recorded past what was passed by before it
            return 1
        batch = envelopes[:n]
        if not self.poison.batch(apply_batch, batch):
            self._position = None  # read again: a failure may have moved it (another writer)
            self._unrecorded.clear()
            return 0
        self._unrecorded.clear()
        return n

    def _passes_by(self, envelopes: list[Envelope]) -> bool:
        """A batch of a running follower whose events change nothing in the handler's rows."""
        changes = self._changes
        return self._running and changes is not None and not any(changes(e) for e in envelopes)

    def _record_kept(self) -> None:
        """Record the kept position (a transaction with no effect: the batches passed by)."""
        position, apply_batch = self._unrecorded.take(), getattr(self.handler, "apply_batch", None)
        if position is not None and apply_batch is not None:
            with contextlib.suppress(StalePosition):  # recorded as far already
                apply_batch([], self.stream, position)

    def _stopping(self) -> None:
        with self._lock, rederivable():
            self._record_kept()

    def _wait_seconds(self) -> float:
        """Until the next round: the poll, or sooner when the kept position is to be recorded."""
        return self._unrecorded.wait(self.poll_seconds)

    @property
    def _running(self) -> bool:
        return self._runs > 0

    async def run(self, stop: asyncio.Event) -> None:
        # No lock taken here (a read-your-writes caller may hold it for long: never on the event
        # loop); a position is only ever set after its commit, so a round ending meanwhile is right.
        self._runs += 1
        self._position = None  # a new run (a replica's new tenure) reads where the last holder left it
        self._unrecorded.clear()
        try:
            await self._run(stop)
            try:  # what it passed by, recorded as it stops (else the next run reads those events again)
                await asyncio.to_thread(self._stopping)
            except Exception as e:  # noqa: BLE001 - the database gone, the lease lost: read again next time
                log.warning("follower %s/%s: position not recorded at stop: %s: %s", self.stream,
                            self.handler.name, type(e).__name__, e)
        finally:
            self._runs -= 1
            self._position = None  # a standby's read-your-writes callers ask the database
            self._unrecorded.clear()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                with self.health.round():
                    await asyncio.to_thread(self._round)
            except Exception as e:  # noqa: BLE001 - a failing event is retried, in order
                log.error("follower %s/%s: %s: %s", self.stream, self.handler.name, type(e).__name__, e)
                self.health.failed(e)
            if self.wakeup is not None:
                await self.wakeup.wait(stop, self._wait_seconds())
                continue
            await sleep_or_stop(stop, self._wait_seconds())

