"""Signed checkpoints on the bus, for witnesses outside our control (issue #8).

A service publishes each new checkpoint on `audit.<service>.checkpoint`, which the JetStream
stream AUDIT keeps forever: a witness that connects later still reads every checkpoint, and a
service cannot quietly withdraw one it signed. `Nats-Msg-Id` is stable per (service, tree size),
so a republished checkpoint is dropped inside the stream's duplicate window; a reader drops any
older repeat by tree size, and reports two *different* checkpoints of one size (a split view).
"""

from __future__ import annotations

import json
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from libs.platform.messaging.bus import Bus
from libs.platform.messaging.replay import read_stream
from libs.platform.messaging.streams import AUDIT_STREAM


def checkpoint_subject(service: str) -> str:
    return f"audit.{service}.checkpoint"


def checkpoint_msg_id(service: str, tree_size: int) -> str:
    return f"checkpoint-{service}-{tree_size}"


def checkpoint_message(service: str, public_key_hex: str, cp: dict[str, Any]) -> dict[str, Any]:
    """The published body: the checkpoint as signed, the service and the key that signed it.
    The key in the body is only a hint: a witness should pin the key it got out of band."""
    return {**cp, "service": service, "public_key": public_key_hex}


async def publish_checkpoint(js: JetStreamContext, service: str, public_key_hex: str, cp: dict[str, Any]) -> None:
    """Publish and wait for the PubAck: a checkpoint counts as published only once AUDIT has it."""
    body = json.dumps(checkpoint_message(service, public_key_hex, cp)).encode()
    await js.publish(checkpoint_subject(service), body, stream=AUDIT_STREAM.name,
                     headers={"Nats-Msg-Id": checkpoint_msg_id(service, cp["tree_size"])})


async def last_published(bus: Bus, service: str) -> int:
    """The tree size of the service's last checkpoint in AUDIT (creating the stream when missing),
    so that a restarted service publishes only what AUDIT lacks."""
    await bus.ensure_stream(AUDIT_STREAM)
    try:
        msg = await bus.js.get_last_msg(AUDIT_STREAM.name, checkpoint_subject(service))
    except NotFoundError:
        return 0
    return json.loads(msg.data or b"")["tree_size"]


async def read_checkpoints(nats_url: str, service: str) -> list[dict[str, Any]]:
    """Every checkpoint of a service kept in AUDIT, in the order they were stored (none while
    AUDIT does not exist yet)."""
    try:
        raws = await read_stream(nats_url, AUDIT_STREAM.name, subject=checkpoint_subject(service))
    except NotFoundError:
        return []
    return [json.loads(raw) for raw in raws]
