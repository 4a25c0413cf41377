"""A stream created anew under a consumer: its positions were sequences of the old one.

A consumer records the stream sequence it applied up to, and is made again at that position + 1
(messaging/delivery.py). A stream deleted and created again (the way back from lost messages,
deploy/README.md: the relay sends its whole log again) numbers its messages from 1, without the
foreign messages, holes and resent tails of the old one: the event at a sequence is not the one
that was there. A consumer that went on from its position skipped, without a word, the events the
new stream put at sequences up to it (h-attack9: 5 of 8 consultations after the rebuild never
counted, /readyz ready once the foreign messages' dead letters were resolved; dispatch, which no
tool rebuilds, would miss a revocation). So each consumer keeps the `created` of the stream it
read (the dead letters' database), and a subscription to another one with a position recorded is an
open dead letter at that position, as a hole is (delivery._across_hole): unready until an operator
rebuilds the consumer's read model from the new stream and resolves it. A purge, a consumer reset,
a server restart or a stream's new settings keep `created`: no alarm.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from libs.platform.messaging.deadletters import DeadLetters


class StreamOrigin:
    """The `created` of the stream a consumer's positions were recorded in, as the dead letters'
    database says, read once per run of the consumer: a subscribe (every hole, idle check, failure
    and reconnect makes the consumer again) asked the database each time for a row that changes
    only when the stream is made anew. Read again after this runner wrote it (another replica may
    have written it just before: keep_stream_created keeps theirs) and when a run starts (after a
    lost and retaken lease another replica may have met a stream made anew)."""

    def __init__(self, dead_letters: DeadLetters | None, consumer: str, stream: str) -> None:
        self.dead_letters, self.consumer, self.stream = dead_letters, consumer, stream
        self._known: str | None = None
        self._read = False

    def forget(self) -> None:
        """Read it again at the next check (a run starts)."""
        self._read = False

    async def check(self, created: datetime | None, position: int,
                    lettered: Callable[[int, str], Awaitable[None]]) -> None:
        """Dead-letter `position` when the stream (created at `created`) is not the one this consumer's
        positions were recorded in; then keep it as the consumer's stream."""
        if self.dead_letters is None or created is None:
            return
        now, stream = created.isoformat(), self.stream
        if not self._read:
            self._known = await asyncio.to_thread(self.dead_letters.stream_created, consumer=self.consumer,
                                                  stream=stream)
            self._read = True
        known = self._known
        if known == now:
            return
        if known is not None and position > 0:
            await lettered(position, f"stream {stream} was created anew ({now}; positions up to {position} were "
                                     f"recorded in the one created {known}): its sequences start again at 1, so "
                                     f"events were skipped here; rebuild this consumer's read model from the new "
                                     f"stream, then resolve")
        await asyncio.to_thread(self.dead_letters.keep_stream_created, consumer=self.consumer, stream=stream,
                                created=now)
        self._read = False
