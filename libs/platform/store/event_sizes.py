"""The size check of a save's events on the bus (ServiceApplication's `EventSizes` part; its
`_record` says when it runs: store/application.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Mapper

from libs.domain.audit import NATIONAL
from libs.domain.errors import EventTooLarge
from libs.platform.limits import PUBLISH_HEADROOM
from libs.platform.messaging.cloudevents import NotRoundTripped, published_size, stored_size_bound


class EventSizes:
    """Refusing a save whose event would be larger on the bus than the limit (a mixin of
    ServiceApplication, which sets these)."""

    name: str
    mapper: Mapper[Any]
    max_event_bytes: int

    def _check_stored_sizes(self, stored_events: Sequence[Any], domain_events: Sequence[Any] | None = None) -> None:
        """The size check of a save whose messages the relay's outbox did not render (none is
        installed, it could not chain them, or the save leaves them to the relay): on the events as
        stored, each rendered from the object the save stored where that is proven to give the same
        bytes (cloudevents.as_stored), else decoded. An event whose stored state bounds its message
        far under the limit (cloudevents.stored_size_bound) is not rendered at all."""
        if self.mapper.compressor is None:  # compressed, the state says nothing of the message's size
            room = self.max_event_bytes - PUBLISH_HEADROOM
            near = [k for k, e in enumerate(stored_events) if stored_size_bound(e.state) > room]
            if len(near) < len(stored_events):
                domain_events = [domain_events[k] for k in near] if domain_events is not None and \
                    len(domain_events) == len(stored_events) else None
                stored_events = [stored_events[k] for k in near]
        if domain_events is None or len(domain_events) != len(stored_events):
            self._check_sizes([self.mapper.to_domain_event(e) for e in stored_events])
            return
        undecoded = []
        for stored, event in zip(stored_events, domain_events, strict=True):
            try:
                self._check_sizes([event], in_memory=True)
            except NotRoundTripped:
                undecoded.append(stored)
        self._check_sizes([self.mapper.to_domain_event(e) for e in undecoded])

    def _check_sizes(self, events: Sequence[Any], *, in_memory: bool = False) -> None:
        for event in events:
            tenant = getattr(event, "tenant", None) or NATIONAL  # every tenant code has 6 digits
            size = published_size(self.name, event, tenant=tenant, in_memory=in_memory) + PUBLISH_HEADROOM
            if size > self.max_event_bytes:
                name = type(event).__qualname__.split(".")[-1]
                raise EventTooLarge(f"{name} would be {size} bytes on the event stream; the limit is "
                                    f"{self.max_event_bytes}", event=name, size=size, limit=self.max_event_bytes)
