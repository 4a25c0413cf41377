"""Reading a stream back as it was published, for auditors' own tools (`tsunagu replay`,
`tsunagu audit verify`).

A read is one ephemeral consumer (no acks), deleted when done, so a read-only user needs no
durable: the `witness` user of deploy/nats/accounts.conf may create, pull from and delete
consumers by any name except the services' and integrators' durables.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import ServiceUnavailableError

from libs.platform.messaging.bus import close_quietly, inbox_prefix


async def read_stream(nats_url: str, stream: str, *, from_seq: int | None = None, since: datetime | None = None,
                      until: datetime | None = None, subject: str | None = None,
                      progress: Callable[[int, int | None], None] | None = None) -> list[bytes]:
    """The raw messages of a stream (or of one `subject` in it) from a sequence or an instant, up
    to `until` (the message's store time) or the end as it stands when the read starts.
    `progress(read, total)` is called after each batch (libs/platform/tools/progress.py)."""
    nc = await nats.connect(nats_url, inbox_prefix=inbox_prefix(nats_url))
    try:
        js = nc.jetstream()
        state = (await js.stream_info(stream)).state
        last = state.last_seq
        # A read of the whole stream knows how many messages to expect (a deleted tail leaves
        # last_seq above the last message held).
        held = state.messages if since is None and subject is None and (from_seq or 1) <= state.first_seq else None
        name = nc.new_inbox().rsplit(".", 1)[-1]  # a unique token, never a durable's name
        if since is not None:
            config = ConsumerConfig(name=name, ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.BY_START_TIME,
                                    opt_start_time=since, filter_subject=subject)
        else:
            config = ConsumerConfig(name=name, ack_policy=AckPolicy.NONE,
                                    deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                    opt_start_seq=from_seq or 1, filter_subject=subject)
        await js.add_consumer(stream, config)
        try:
            sub = await js.pull_subscribe_bind(name, stream=stream)
            return await _drain(sub, last, until, progress=progress, first=None if since is not None else from_seq or 1,
                                filtered=subject is not None, held=held)
        finally:
            # Tidy, not required: the server also removes an ephemeral consumer left idle for 5 s.
            with contextlib.suppress(nats.errors.Error, asyncio.TimeoutError):
                await js.delete_consumer(stream, name)
    finally:
        await close_quietly(nc, "replay")


class IncompleteRead(Exception):
    """The stream holds messages up to a sequence the read could not reach: a short answer would
    say that published events are missing (the soak called them lost; an auditor, not on the bus)."""


async def _drain(sub, last: int, until: datetime | None, leader_wait: float = 10.0,
                 progress: Callable[[int, int | None], None] | None = None, *, first: int | None = 1,
                 filtered: bool = False, held: int | None = None, read_wait: float = 30.0) -> list[bytes]:
    """`sub` is a PullSubscription from stream sequence `first` (None: from an instant); `last` is
    the stream's last sequence when the read began. In a cluster the consumer just made may have no
    leader yet: a pull then comes back 503 (no responders; seen about one read in eight on an R3
    stream), so a 503 is waited out for up to `leader_wait` seconds from the start or the last
    messages read (a loaded single server answered one 503 more than 10 s into a read: CI,
    2026-11-30). A pull that times out is the end only once `last` was read: a consumer placed on a
    replica that is still catching up (a node just restarted), or a server too busy to answer within
    the pull's second, has more to give, so the read goes on until it gets no further for
    `read_wait` seconds (IncompleteRead). A read of one subject (`filtered`) cannot know its last
    message: none pending is its end; nor can a read from an instant know that anything comes at
    all. A read of the whole stream also ends once it has the `held` messages the stream held (its
    tail may have been deleted)."""
    out: list[bytes] = []
    if first is not None and not filtered and last < first:
        return out
    reached = 0  # the stream sequence of the last message read
    deadline = time.monotonic() + leader_wait
    stalled = time.monotonic() + read_wait
    while True:
        try:
            msgs = await sub.fetch(500, timeout=1)
        except (TimeoutError, NatsTimeout):
            if reached >= last or (not out and (filtered or first is None)) or (held is not None and len(out) >= held):
                return out
            if time.monotonic() > stalled:
                raise IncompleteRead(f"read up to stream sequence {reached} of {last}; no more for "
                                     f"{read_wait:.0f} s") from None
            continue
        except ServiceUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        if msgs:  # progress: a 503 after it is waited out afresh (a busy server's answer, not the end)
            stalled = time.monotonic() + read_wait
            deadline = time.monotonic() + leader_wait
        for m in msgs:
            if until is not None and m.metadata.timestamp > until:
                return out
            out.append(m.data)
            reached = m.metadata.sequence.stream
            # Filtered, the stream's last message may be of another subject: none pending is the end.
            if reached >= last or (filtered and m.metadata.num_pending == 0) or (held is not None and len(out) >= held):
                if progress is not None:
                    progress(len(out), len(out))
                return out
        if progress is not None and msgs:  # read so far, and what the server holds for us up to `last`
            after = msgs[-1].metadata
            progress(len(out), len(out) + min(after.num_pending, max(last - after.sequence.stream, 0)))
