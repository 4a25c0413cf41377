"""RosterProvision: 登録名簿 (資料6, 第8条) provided to a municipality that runs dispatch.

Each provision is the APPI third-party provision record (個人情報保護法 第27条/第29条): who
received which items about which supporters, when, and the consent each entry rests on.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import registry
from libs.domain.codes import validate_lg_code
from libs.domain.errors import InvalidInput


class RosterProvision(Aggregate):
    RosterProvided = registry.RosterProvided

    @event(RosterProvided)
    def __init__(self, id: UUID, tenant: str, recipient: str, provided_on: date,
                 items: list[str], entries: list[dict]) -> None:
        self.tenant = tenant
        self.recipient = recipient
        self.provided_on = provided_on
        self.items = items
        self.entries = entries

    @classmethod
    def provide(cls, *, id: UUID, tenant: str, recipient: str, provided_on: date,
                items: list[str], entries: list[dict]) -> RosterProvision:
        validate_lg_code(recipient)
        unknown = set(items) - set(registry.ROSTER_ITEMS)
        if unknown or not items:
            raise InvalidInput(f"items must be some of {registry.ROSTER_ITEMS}", unknown=sorted(unknown))
        if not entries:
            raise InvalidInput("no supporter to provide")
        if any(not e.get("consent_id") for e in entries):
            raise InvalidInput("every roster entry must rest on a consent")
        ordered = [i for i in registry.ROSTER_ITEMS if i in items]
        return cls(id=id, tenant=tenant, recipient=recipient, provided_on=provided_on,
                   items=ordered, entries=entries)
