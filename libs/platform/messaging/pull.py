"""A batch pulled from a JetStream pull consumer without a task per message (issue 15: the rebuild).

nats-py's `PullSubscription.fetch(n)` waits for each message of a batch by `Subscription.next_msg`,
which makes a task, a uuid4 and `asyncio.wait_for` (a second task and a timer) per message: five
turns of the event loop a message when the loop is otherwise idle, as it is while a catch-up's
batch is applied in a worker thread (cProfile of bench.rebuild's catch-up: 150,127 loop turns,
60,024 tasks and 30,006 uuid4s for 30,000 messages; the process spent ~75 µs a message beside the
apply's ~35). Here the messages are taken from the subscription's queue as they come, all that
arrived together at once, under one deadline.

What it asks of the server is what nats-py's first request of a fetch asks (`no_wait`: what is
there now, up to `batch`, then a 404/408 status if that was fewer), so it is used where messages
are known to wait (the server said so with the last batch); otherwise `fetch` with its lingering
request. Status messages end the batch (404, 408) or are skipped (heartbeats, 409 a temporary
conflict), any other raises as in nats-py; what arrives after the deadline stays in the queue,
in order, for the next fetch, whose first step drains it (as nats-py's own does).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api

_ENDS = (api.StatusCode.NO_MESSAGES, api.StatusCode.REQUEST_TIMEOUT)


async def take(sub: JetStreamContext.PullSubscription, batch: int, timeout: float, *, waiting: bool) -> list[Any]:
    """A batch: when messages are known to `wait` (a catch-up), taken as they come (`pull`); else, or
    when none came after all, nats-py's fetch and its lingering request."""
    msgs = await pull(sub, batch, timeout) if waiting else []
    return msgs or await sub.fetch(batch, timeout=timeout)


async def pull(sub: JetStreamContext.PullSubscription, batch: int, timeout: float) -> list[Any]:
    """Up to `batch` messages waiting on the consumer now; [] when the server says none waits;
    NatsTimeout when none came in `timeout`."""
    inner = sub._sub  # the subscription's queue, as fetch reads it (nats-py 2.x)
    queue: asyncio.Queue[Any] = inner._pending_queue
    msgs: list[Any] = []
    ended = _take(inner, queue, msgs, batch, leftovers=True)  # a previous request's late messages first
    if len(msgs) < batch:
        request = json.dumps({"batch": batch - len(msgs), "no_wait": True}).encode()
        await sub._nc.publish(sub._nms, request, sub._deliver)  # fetch's request
        ended = False
    try:
        async with asyncio.timeout(timeout):
            while len(msgs) < batch and not ended:
                # the first to come, then the rest of what arrived with it without a turn of the loop each
                ended = _one(inner, await queue.get(), msgs, leftovers=False) or \
                    _take(inner, queue, msgs, batch, leftovers=False)
    except TimeoutError:
        if not msgs:
            raise NatsTimeout from None
    return msgs


def _take(inner: Any, queue: asyncio.Queue[Any], msgs: list[Any], batch: int, *, leftovers: bool) -> bool:
    """Move what the queue holds into `msgs`, up to `batch`: whether a status ended the request."""
    while len(msgs) < batch and not queue.empty():
        if _one(inner, queue.get_nowait(), msgs, leftovers=leftovers):
            return True
    return False


def _one(inner: Any, msg: Any, msgs: list[Any], *, leftovers: bool) -> bool:
    """A message into `msgs`, or its status read: whether it ended the request. Leftovers of an
    earlier request: their statuses ended that one, not this (skipped, as fetch does)."""
    inner._pending_size -= len(msg.data)  # the slow-consumer count nats-py keeps
    status = JetStreamContext.is_status_msg(msg)
    if not status:
        msgs.append(msg)
        return False
    if leftovers or JetStreamContext._is_heartbeat(status):
        return False
    if status in _ENDS:
        return True
    JetStreamContext._is_processable_msg(status, msg)  # raises all but the temporary (409)
    return False
