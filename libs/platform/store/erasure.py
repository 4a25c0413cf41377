"""Crypto-shredding and the retention jobs (ServiceApplication's `Erasure` part: store/application.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Recording

from libs.platform.privacy.sealing import Sealer
from libs.platform.store.creations import Ledger


class Service(Protocol):
    """What erasure uses of ServiceApplication."""

    ledger: Ledger
    sealer: Sealer

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording]: ...

    def existing(self, kind: type, aggregate_id: UUID) -> Any: ...

    def erase_personal_data(self, aggregate: Any, record: Callable[[Any], Any]) -> Any: ...


class Erasure:
    """Erasing a subject's personal data (a mixin of ServiceApplication)."""

    def erase_personal_data(self: Service, aggregate: Any, record: Callable[[Any], Any]) -> Any:
        """Crypto-shredding, in one order for every service: `record` the erasure event on the
        aggregate (once), save it, forget the request digests of what was created in it (the creations
        ledger), then destroy the key its personal data is sealed under (its id).
        Recorded first, the log says why the data went before it goes. A crash between the two
        leaves a recorded erasure with a living key: calling this again finishes it (the event is
        not repeated, forgetting is idempotent), and the retention jobs look for such leftovers."""
        if not aggregate.erased:
            record(aggregate)
            self.save(aggregate)
        # The ledger's request digests before the key: a crash between the two leaves the key
        # living, which the retention jobs find, and running this again finishes both.
        self.ledger.forget_requests(aggregate.id)
        self.sealer.forget(str(aggregate.id))
        return aggregate

    def end_retention(self: Service, kind: type, today: date, candidates: list[UUID], years: int) -> list[UUID]:
        """The retention jobs: erase the personal data of every candidate whose retention period
        ended (its erasure event, basis retention_ended, records that it did) and finish an erasure
        recorded earlier whose key outlived a crash. The aggregate has the final say
        (`retention_ended`): candidates come from a read model that may lag."""
        erased = []
        for aggregate_id in candidates:
            aggregate = self.existing(kind, aggregate_id)
            if aggregate is not None and (aggregate.erased or aggregate.retention_ended(today, years)):
                self.erase_personal_data(aggregate, lambda a: a.erase(erased_on=today, basis="retention_ended"))
                erased.append(aggregate_id)
        return erased
