"""A service's own read models, fed straight from its event log (no NATS in between).

The follower reads the notification log after the handler's recorded position and applies it
with the same Handler interface the consumer runner uses (effect + position in one transaction,
a whole batch at a time when the handler can), so list and search endpoints work even while NATS
is down. Its position, the log's end and its failures are in `health` (readiness, metrics).

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
"""

from __future__ import annotations

import asyncio
import logging
import threading

from libs.platform.health import LoopHealth
from libs.platform.messaging.consumer import Handler
from libs.platform.store.commits import Wakeup, sleep_or_stop
from libs.platform.store.log import LogReader, end_of

log = logging.getLogger(__name__)


class LogFollower:
    def __init__(self, reader: LogReader, handler: Handler, *, batch_size: int = 500,
                 poll_seconds: float = 0.05, wakeup: Wakeup | None = None) -> None:
        self.reader = reader
        self.handler = handler
        self.stream = f"{reader.service}-log"
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.wakeup = wakeup
        self._lock = threading.Lock()  # the loop and read-your-writes callers take turns
        self._runs = 0  # runs of the loop under way (a position is kept only while one is)
        self._position: int | None = None  # while running: the handler's recorded position (None: ask it)
        self.health = LoopHealth("follower", f"{handler.name}", stream=self.stream)

    def lag(self) -> int:
        return self.reader.max_position() - self.handler.position(self.stream)

    def catch_up(self) -> int:
        """Apply everything recorded so far; returns how many events were applied (a read after a
        write calls this: it reads the log afresh, never a shared read)."""
        with self._lock:
            return self._catch_up(shared=False)

    def _round(self) -> int:
        with self._lock:
            return self._catch_up(shared=True)

    def _catch_up(self, *, shared: bool) -> int:
        applied = 0
        apply_batch = getattr(self.handler, "apply_batch", None)
        try:
            while True:
                position = self._position if self._position is not None else self.handler.position(self.stream)
                envelopes = self.reader.read(position, self.batch_size, shared=shared)
                end = end_of(self.reader, envelopes, position, self.batch_size)
                self.health.observe(position, end)
                if apply_batch is not None and envelopes:
                    apply_batch(envelopes, self.stream, envelopes[-1].sequence)  # one transaction
                else:
                    for envelope in envelopes:
                        self.handler.apply(envelope, self.stream, envelope.sequence)
                        if self._running:
                            self._position = envelope.sequence
                applied += len(envelopes)
                if envelopes:
                    self.health.observe(envelopes[-1].sequence, end, handled=len(envelopes))
                if self._running:
                    self._position = envelopes[-1].sequence if envelopes else position
                if len(envelopes) < self.batch_size:
                    self.health.succeeded()
                    return applied
        except BaseException:
            self._position = None  # what the failure left recorded is not known: read it again
            raise

    @property
    def _running(self) -> bool:
        return self._runs > 0

    async def run(self, stop: asyncio.Event) -> None:
        # No lock taken here (a read-your-writes caller may hold it for long: never on the event
        # loop); a position is only ever set after its commit, so a round ending meanwhile is right.
        self._runs += 1
        self._position = None  # a new run (a replica's new tenure) reads where the last holder left it
        try:
            await self._run(stop)
        finally:
            self._runs -= 1
            self._position = None  # a standby's read-your-writes callers ask the database

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self._round)
            except Exception as e:  # noqa: BLE001 - a failing event is retried, in order
                log.error("follower %s/%s: %s: %s", self.stream, self.handler.name, type(e).__name__, e)
                self.health.failed(e)
            if self.wakeup is not None:
                await self.wakeup.wait(stop, self.poll_seconds)
                continue
            await sleep_or_stop(stop, self.poll_seconds)

