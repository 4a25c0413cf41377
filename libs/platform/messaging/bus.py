"""The NATS connection of a service: connects in the background, reconnects forever, and connects
anew when the server closes it for good."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, MaxPayloadError
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, BadRequestError, NotFoundError

from libs.platform.limits import PUBLISH_HEADROOM, max_event_bytes
from libs.platform.messaging.streams import StreamSpec

log = logging.getLogger(__name__)

NATS_HEADER_LINE = b"NATS/1.0\r\n"  # what a message's headers start with on the wire (nats-py's HPUB)


def inbox_prefix(url: str) -> str:
    """The reply subjects of a connection as user U: `_INBOX.U.…`. deploy/nats/accounts.conf lets
    each user subscribe to its own prefix only, so no user reads another's replies (JetStream API
    answers, pulled messages). Without a user in the URL (a local server): nats-py's `_INBOX`."""
    from urllib.parse import urlsplit

    user = urlsplit(url.split(",")[0].strip()).username
    return f"_INBOX.{user}" if user else "_INBOX"


def settling_errors(js: JetStreamContext) -> JetStreamContext:
    """A context whose `publish_async` futures also settle when the server refuses the message.
    nats-py 2.16.0 (nats-io/nats.py#985, fix #994 not released): `APIError.from_error` raises, so
    the reply handler raised before `set_exception` and the future never settled (the error only
    logged as "encountered error"): a refused relay publish (messaging/relay_order.py) looked like a
    lost PubAck and waited out the ack timeout. An empty answer (a staged atomic batch message's)
    settles its future with None (nats-py's handler fails to parse it and leaves the future
    unsettled). The handler is taken at the first publish_async."""
    handle = js._handle_async_reply
    futures = js.__dict__  # `_publish_async_futures` is made at the first publish_async

    async def handled(msg: Msg) -> None:
        # The future is the reply subject's last token's (as nats-py's).
        future = futures.get("_publish_async_futures", {}).get(msg.subject.rsplit(".", 1)[-1])
        if not msg.data and not msg.headers:  # a staged atomic batch message (relay_order.publish_atomic): taken
            if future is not None and not future.done():
                future.set_result(None)
            return
        try:
            await handle(msg)
        except APIError as error:
            if future is not None and not future.done():
                future.set_exception(error)

    js._handle_async_reply = handled  # type: ignore[method-assign]
    return js


def fail_pending_acks(js: JetStreamContext | None) -> None:
    """Settle at once, with ConnectionClosedError, the `publish_async` futures of a connection lost
    or closed for good: their PubAcks can no longer come (a reply goes to the connection that asked),
    and nats-py leaves the futures waiting (for ever, for a caller without a timeout of its own; the
    relay waited out its ack timeout before it published again on the new connection). Of a message
    nats-py still held when the connection was lost and sends after it reconnects, the PubAck comes
    to a settled future: the publisher has been told it failed and asks the stream (relay.compare)."""
    futures = js.__dict__.get("_publish_async_futures", {}) if js is not None else {}
    for future in list(futures.values()):
        if not future.done():
            future.set_exception(ConnectionClosedError())
            future.exception()  # whoever waits on it is told; one nobody waits on (a batch's first) is not logged


async def close_quietly(nc: Client, name: str) -> None:
    """`nc.close()`, which nats-py 2.16 ends by writing what it buffered while the server was away
    into the lost socket, raising (ConnectionResetError) after its client is closed. What it held is
    sent again anyway (the relay from its record, consumers' messages redelivered, a replay's read
    already done), and a raise here skipped the rest of a service's stop (its heartbeat row, its
    database) or failed a replay that had read everything."""
    try:
        await nc.close()
    except Exception as e:  # noqa: BLE001 - closed all the same
        log.warning("NATS %s: closed without sending what it held (%s: %s)", name, type(e).__name__, e)


class Bus:
    def __init__(self, url: str, name: str, replicas: int | None = None) -> None:
        self.url = url
        self.name = name
        # R3 in a cluster (DESIGN §2); NATS_STREAM_REPLICAS says so, 1 on a single server.
        self.replicas = replicas or int(os.environ.get("NATS_STREAM_REPLICAS", "1"))
        self.nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = asyncio.Event()
        # Connections lost so far: what a loop saw before one may not hold after it (the relay
        # compares its position with the stream again, messaging/relay.py).
        self.reconnects = 0
        self._closing = False
        self._replacing: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    @property
    def client(self) -> Client:
        if self.nc is None:
            raise RuntimeError("not connected to NATS")
        return self.nc

    @property
    def js(self) -> JetStreamContext:
        """One JetStream context for the connection. A context subscribes its own reply inbox
        (`_INBOX.….*`) at its first `publish_async` and never unsubscribes it: a context per call
        left a subscription, with its queue and pending task, in the client and in the server after
        every relay round (issue 15: intake grew ~2.7 KiB per command, without a plateau)."""
        client = self.client
        if self._js is None:
            self._js = settling_errors(client.jetstream(timeout=5))
        return self._js

    async def connect(self) -> None:
        """Try until a server answers; afterwards nats-py reconnects by itself."""
        delay = 0.1
        while self.nc is None:
            try:
                self.nc = await nats.connect(
                    [u.strip() for u in self.url.split(",")],  # a cluster: every node's URL
                    name=self.name,
                    inbox_prefix=inbox_prefix(self.url),
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.25,
                    connect_timeout=2,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    closed_cb=self._on_closed,
                )
            except Exception as e:  # noqa: BLE001 - any failure to connect is retried
                log.info("NATS at %s not reachable yet (%s); retrying", self.url, type(e).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._check_max_payload()
        self._ready.set()

    def _check_max_payload(self) -> None:
        """Say so loudly when the server takes smaller messages than the events we allow: an event
        between the two would be stored and then stop the relay (issue 13)."""
        allowed = max_event_bytes() + PUBLISH_HEADROOM
        if self.nc is not None and self.nc.max_payload < allowed:
            log.error("NATS %s: the server's max_payload (%d bytes) is below TSUNAGU_MAX_EVENT_BYTES plus headers "
                      "(%d): lower the one or raise the other", self.name, self.nc.max_payload, allowed)

    def check_fits(self, body: bytes, headers: dict[str, str]) -> None:
        """Raise MaxPayloadError, as nats-py does for the body alone, when the message with its headers
        is larger than the server takes: the server counts both, and answers one larger with an error
        that closes the connection (`_on_closed`) instead of refusing the one message."""
        size = len(body) + len(NATS_HEADER_LINE) + 2 + sum(len(k) + len(v.encode()) + 4 for k, v in headers.items())
        if size > self.client.max_payload:
            raise MaxPayloadError  # what nats-py raises for a body larger than max_payload

    async def _on_error(self, e: Exception) -> None:
        log.info("NATS %s: %s: %s", self.name, type(e).__name__, e)

    async def _on_disconnected(self) -> None:
        """nats-py reconnects the same client by itself, and drops the PubAcks of what it had
        written: they are failed here (fail_pending_acks)."""
        self.reconnects += 1
        fail_pending_acks(self._js)
        log.warning("NATS %s: disconnected", self.name)

    async def _on_reconnected(self) -> None:
        log.warning("NATS %s: reconnected", self.name)

    async def _on_closed(self) -> None:
        """nats-py closes its client for good, without reconnecting, on any error the server sends
        (`-ERR`: a message over max_payload counted with its headers, which nats-py does not check;
        an authorization violation; too many connections). Every loop would then fail with
        ConnectionClosedError until the process restarts, even once the operator fixed the cause: a
        new connection is made instead, in the background, as at start."""
        closed = self.nc
        if self._closing or closed is None:
            return
        log.error("NATS %s: the connection was closed (%s); connecting anew", self.name, closed.last_error)
        fail_pending_acks(self._js)
        self.nc, self._js = None, None
        self._ready.clear()
        self.reconnects += 1
        self._replacing = asyncio.create_task(self.connect())

    async def wait_connected(self) -> bool:
        """Until connected, or the service stops: whether connected."""
        await self._ready.wait()
        return self.connected

    def stopping(self) -> None:
        """The service stops: it connects no more, and no one waits for a connection any longer (a
        job that waited for NATS held the stop of a service whose NATS was away)."""
        self._closing = True
        self._ready.set()

    async def ensure_stream(self, spec: StreamSpec) -> None:
        config = StreamConfig(
            name=spec.name,
            subjects=spec.subjects,
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            duplicate_window=spec.duplicate_window,
            num_replicas=self.replicas,
            allow_atomic=spec.atomic or None,
        )
        # Create when missing; of an existing stream's settings only allow_atomic is set here (an
        # operator's R3, limits or placement stay as they are). A relay publishes its batches as
        # JetStream atomic batches (messaging/relay_order.py): a stream that does not take them is
        # refused loudly (nats-server before 2.12 drops the setting; deploy/nats/accounts.conf lets
        # no service update a stream: an operator sets it).
        try:
            info = await self.js.stream_info(spec.name)
        except NotFoundError:
            with contextlib.suppress(BadRequestError):  # another service created it meanwhile
                await self.js.add_stream(config)
            info = await self.js.stream_info(spec.name)
        if spec.atomic and not info.config.allow_atomic:
            try:
                info = await self.js.update_stream(dataclasses.replace(info.config, allow_atomic=True))
            except Exception as e:  # noqa: BLE001 - said below, with what to do
                log.warning("stream %s: cannot set allow_atomic (%s: %s)", spec.name, type(e).__name__, e)
            if not info.config.allow_atomic:
                raise RuntimeError(f"stream {spec.name} does not take atomic batches: an operator must set "
                                   "allow_atomic: true on it (nats-server 2.12+)")

    async def close(self) -> None:
        # close, not drain: every publish we care about was awaited (PubAck) and every
        # unacked message is redelivered, so draining would only wait for in-flight fetches.
        self._closing = True
        if self._replacing is not None:
            self._replacing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replacing
        if self.nc is not None:
            await close_quietly(self.nc, self.name)
