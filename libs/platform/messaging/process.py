"""A consumer handler whose effect is new events in the service's own event store.

The policy turns one upstream CloudEvent into commands on aggregates; the new events and the
upstream position are written in one transaction (eventsourcing's tracking table), so a
redelivered message can never apply twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import IntegrityError

from libs.platform import tracing
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.store.application import ServiceApplication


class ProcessHandler:
    def __init__(self, name: str, application: ServiceApplication, policy: Callable[[Envelope], list[Any]],
                 changes: Callable[[Envelope], bool] | None = None) -> None:
        self.name = name
        self.app = application
        self.policy = policy
        # Whether the policy may act on an event (its table handles it): the consumer runner passes
        # by the rest without a tracking row each (messaging/consumer_passby.py). None: every event
        # may change something, and the runner does not look ahead for events to pass by.
        self.changes = changes

    def position(self, stream: str) -> int:
        return self.app.tracked_position(stream)

    def apply(self, envelope: Envelope, stream: str, position: int) -> None:
        with tracing.applying(self.name, stream, envelope):  # its new events continue the trace
            self.app.save_tracked(*self.policy(envelope), upstream=stream, position=position)

    def skip(self, stream: str, position: int, reason: str) -> None:
        self.app.save_tracked(upstream=stream, position=position)

    def record_position(self, stream: str, position: int) -> None:
        """The position alone, past events passed by; nothing when it is recorded as far already."""
        with contextlib.suppress(IntegrityError):  # at or below the recorded one: written already
            self.app.save_tracked(upstream=stream, position=position)
