"""Reading a stream back as it was published, for auditors' own tools (`tsunagu replay`)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def read_stream(nats_url: str, stream: str, *, from_seq: int | None = None, since: datetime | None = None,
                      until: datetime | None = None, subject: str | None = None) -> list[bytes]:
    """The raw messages of a stream (or of one `subject` in it) from a sequence or an instant, up
    to `until` (the message's store time) or the end as it stands when the read starts."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        if since is not None:
            config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.BY_START_TIME,
                                    opt_start_time=since.isoformat())
        else:
            config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                    opt_start_seq=from_seq or 1)
        sub = await js.pull_subscribe(subject or "", stream=stream, config=config)  # the subject filters
        out: list[bytes] = []
        while True:
            try:
                msgs = await sub.fetch(500, timeout=1)
            except (NatsTimeout, asyncio.TimeoutError):
                return out
            for m in msgs:
                if until is not None and m.metadata.timestamp > until:
                    return out
                out.append(m.data)
                # Filtered, the stream's last message may be of another subject: none pending is the end.
                if m.metadata.sequence.stream >= last or m.metadata.num_pending == 0:
                    return out
    finally:
        await nc.close()
