"""What a Merkle leaf of a service's log is: the stored form of one event (already PII-sealed).

Kept apart from auditlog.py so that the log reader can put each event's leaf hash on the bus
(the `leafhash` extension) without importing the tree's tables.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from libs.platform.audit import merkle


def record_of(notification: Any) -> dict[str, Any]:
    """A stored event as a verifier sees it: position, aggregate, version, topic, stored state."""
    return {"sequence": notification.id, "originator_id": str(notification.originator_id),
            "originator_version": notification.originator_version, "topic": notification.topic,
            "state": base64.b64encode(notification.state).decode()}


def leaf_of(record: dict[str, Any]) -> bytes:
    body = {k: record[k] for k in ("sequence", "originator_id", "originator_version", "topic", "state")}
    return merkle.leaf_hash(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
