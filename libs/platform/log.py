"""Reading a service's own event log (the eventsourcing notification log) as CloudEvents."""

from __future__ import annotations

from typing import Any

from libs.platform.cloudevents import Envelope, envelope_of
from libs.platform.leaves import leaf_of, record_of


class LogReader:
    """Turns stored notifications into (unchained) envelopes, with each aggregate's tenant and the
    hash of the event's Merkle leaf (`leafhash`), so a witness can rebuild the tree from the bus."""

    def __init__(self, service: str, application: Any) -> None:
        self.service = service
        self.app = application
        self._tenants: dict[str, str] = {}

    def max_position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int) -> list[Envelope]:
        notifications = self.app.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        envelopes = []
        for n in notifications:
            domain_event = self.app.mapper.to_domain_event(n)
            envelopes.append(envelope_of(
                self.service, domain_event, tenant=self._tenant_of(domain_event), sequence=n.id,
                leafhash=leaf_of(record_of(n)).hex(),
            ))
        return envelopes

    def _tenant_of(self, domain_event: Any) -> str:
        key = str(domain_event.originator_id)
        tenant = getattr(domain_event, "tenant", None) or self._tenants.get(key)
        if tenant is None:  # created before this reader started: read the created event
            created = next(iter(self.app.events.get(domain_event.originator_id, lte=1)))
            tenant = created.tenant
        self._tenants[key] = tenant
        return tenant
