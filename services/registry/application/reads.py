"""What the registry use cases read from the service's read models (not from the event store).

Each read first brings them up to the service's own log, so that a read after a write sees it;
who may read which rows is decided by the use case, not here."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING
from uuid import UUID

from libs.platform.privacy.receipts import consent_receipt
from libs.platform.privacy.records import stored_consent_record
from services.registry.domain.errors import SupporterNotFound
from services.registry.domain.supporter import Supporter
from services.registry.queries import current_supporters, roster_received, search_supporters

if TYPE_CHECKING:
    from libs.platform.runtime import Runtime


class RegistryReads:
    def __init__(self, runtime: Runtime) -> None:
        # The runtime, not its parts: its audit log and followers are made after the application.
        self._runtime = runtime

    def current_supporters(self, tenant: str, on: date) -> list[UUID]:
        self._runtime.catch_up()
        return current_supporters(self._runtime.engine, tenant, on)

    def search_supporters(self, tenant: str, *, status: str | None, term_ends_before: date | None,
                          after: str | None, limit: int) -> list[dict]:
        self._runtime.catch_up()
        return search_supporters(self._runtime.engine, tenant, status=status, term_ends_before=term_ends_before,
                                 after=after, limit=limit)

    def roster_received(self, recipient: str, registrar: str | None) -> list[dict]:
        self._runtime.catch_up()
        return roster_received(self._runtime.engine, recipient, registrar)

    def consent_receipt(self, supporter: Supporter) -> dict:
        self._runtime.catch_up()
        record = stored_consent_record(self._runtime.engine, str(supporter.consent_id))
        if record is None:
            raise SupporterNotFound(f"no consent record of supporter {supporter.id}")
        return consent_receipt(self._runtime.require_audit(), consent_id=str(supporter.consent_id),
                               subject=str(supporter.id),
                               given_at=record["given_at"], withdrawn_at=record["withdrawn_at"],
                               record=record["data"]["record"], tenant=supporter.tenant)
