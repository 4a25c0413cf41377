"""A service's own read models, fed straight from its event log (no NATS in between).

The follower reads the notification log after the handler's recorded position and applies it
with the same Handler interface the consumer runner uses (effect + position in one transaction,
a whole batch at a time when the handler can), so list and search endpoints work even while NATS
is down. Its position, the log's end and its failures are in `health` (readiness, metrics).

It wakes when the application commits (store/commits.py) and polls every `poll_seconds` only as a
fallback for writes this process did not make.
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
        self.health = LoopHealth("follower", f"{handler.name}", stream=self.stream)

    def lag(self) -> int:
        return self.reader.max_position() - self.handler.position(self.stream)

    def catch_up(self) -> int:
        """Apply everything recorded so far; returns how many events were applied."""
        with self._lock:
            return self._catch_up()

    def _catch_up(self) -> int:
        applied = 0
        apply_batch = getattr(self.handler, "apply_batch", None)
        while True:
            position = self.handler.position(self.stream)
            envelopes = self.reader.read(position, self.batch_size)
            end = end_of(self.reader, envelopes, position, self.batch_size)
            self.health.observe(position, end)
            if apply_batch is not None and envelopes:
                apply_batch(envelopes, self.stream, envelopes[-1].sequence)  # one transaction
            else:
                for envelope in envelopes:
                    self.handler.apply(envelope, self.stream, envelope.sequence)
            applied += len(envelopes)
            if envelopes:
                self.health.observe(envelopes[-1].sequence, end, handled=len(envelopes))
            if len(envelopes) < self.batch_size:
                self.health.succeeded()
                return applied

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.catch_up)
            except Exception as e:  # noqa: BLE001 - a failing event is retried, in order
                log.error("follower %s/%s: %s: %s", self.stream, self.handler.name, type(e).__name__, e)
                self.health.failed(e)
            if self.wakeup is not None:
                await self.wakeup.wait(stop, self.poll_seconds)
                continue
            await sleep_or_stop(stop, self.poll_seconds)

