"""The bounds of one request and of one event (issue 13: no event can stop a stream).

A stored event that the relay cannot publish (larger than NATS's max_payload) stops the service's
stream for every tenant, so every event is bounded before it is stored (ServiceApplication), far
under the server's limit; every request schema bounds its fields so that no normal request comes
near that bound; and a request body is bounded before anything parses it (this middleware).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A quarter of NATS's default max_payload (1 MiB): room for the envelope to grow (a new version,
# more extensions) and still far from the point where the relay stops.
DEFAULT_MAX_EVENT_BYTES = 256 * 1024
# max_payload counts the message's headers too (Nats-Msg-Id ~60 bytes, Tsunagu-Signature ~110,
# Nats-Expected-Last-Sequence ~50, the atomic batch's Nats-Batch-* ~100): kept apart, with margin.
PUBLISH_HEADROOM = 512
# Four times the largest event: the largest valid request (escaped JSON of every field at its
# maximum length) is a few hundred KiB; anything larger is refused before it is read.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def _positive(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    value = int(raw)
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of bytes, not {raw!r}")
    return value


def max_event_bytes(env: Mapping[str, str] | None = None) -> int:
    """The largest event a service stores, as published (TSUNAGU_MAX_EVENT_BYTES). Setting it above
    the NATS server's max_payload brings back the stall this limit prevents."""
    env = os.environ if env is None else env
    return _positive("TSUNAGU_MAX_EVENT_BYTES", env.get("TSUNAGU_MAX_EVENT_BYTES"), DEFAULT_MAX_EVENT_BYTES)


def max_body_bytes(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    return _positive("TSUNAGU_MAX_BODY_BYTES", env.get("TSUNAGU_MAX_BODY_BYTES"), DEFAULT_MAX_BODY_BYTES)


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413 before any of it is parsed: a declared
    Content-Length at once, a chunked body as soon as it passes the limit. The refusal is an
    HTTPException raised where the route reads the body, so the one problem mapper answers it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        received = 0

        async def bounded() -> Message:
            nonlocal received
            if declared is not None and declared.isdigit() and int(declared) > self.limit:
                raise self.too_large()
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise self.too_large()
            return message

        await self.app(scope, bounded, send)

    def too_large(self) -> HTTPException:
        return HTTPException(413, f"Request body larger than {self.limit} bytes")


def install_limits(app: Starlette, *, env: Mapping[str, str] | None = None) -> None:
    """Bound every request body of `app` (TSUNAGU_MAX_BODY_BYTES, default 1 MiB)."""
    app.add_middleware(BodyLimit, limit=max_body_bytes(env))
