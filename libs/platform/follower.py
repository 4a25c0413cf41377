"""A service's own read models, fed straight from its event log (no NATS in between).

The follower reads the notification log after the handler's recorded position and applies each
event with the same Handler interface the consumer runner uses (effect + position in one
transaction), so list and search endpoints work even while NATS is down.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from libs.platform.consumer import Handler
from libs.platform.log import LogReader

log = logging.getLogger(__name__)


class LogFollower:
    def __init__(self, reader: LogReader, handler: Handler, *, batch_size: int = 500,
                 poll_seconds: float = 0.05) -> None:
        self.reader = reader
        self.handler = handler
        self.stream = f"{reader.service}-log"
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()  # the loop and read-your-writes callers take turns

    def lag(self) -> int:
        return self.reader.max_position() - self.handler.position(self.stream)

    def catch_up(self) -> int:
        """Apply everything recorded so far; returns how many events were applied."""
        with self._lock:
            return self._catch_up()

    def _catch_up(self) -> int:
        applied = 0
        while True:
            envelopes = self.reader.read(self.handler.position(self.stream), self.batch_size)
            for envelope in envelopes:
                self.handler.apply(envelope, self.stream, envelope.sequence)
            applied += len(envelopes)
            if len(envelopes) < self.batch_size:
                return applied

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.catch_up)
            except Exception as e:  # noqa: BLE001 - a failing event is retried, in order
                log.error("follower %s: %s: %s", self.stream, type(e).__name__, e)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
            except asyncio.TimeoutError:
                pass
