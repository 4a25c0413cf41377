"""What the dispatch use cases read from the service's read models (not from the event store).

Lists are read after the read models caught up with the service's own log, so a read after a
write sees it; who may read which rows is decided by the use case, not here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from libs.platform.privacy.receipts import consent_receipt
from libs.platform.privacy.records import consents_of
from services.dispatch.queries import (
    deployment_target,
    list_deployments,
    list_dispatches,
    open_erasure_tasks,
    open_tasks,
    roster_of,
    supporter_dispatches,
)

if TYPE_CHECKING:
    from libs.platform.runtime import Runtime


class DispatchReads:
    # The runtime, not its parts: its audit log is made after the application.
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def _current(self) -> Any:
        self._runtime.catch_up()
        return self._runtime.engine

    def dispatches(self, tenant: str, *, status: str | None, after: str | None, limit: int) -> list[dict]:
        return list_dispatches(self._current(), tenant, status=status, after=after, limit=limit)

    def supporter_dispatches(self, supporter_id: str, *, registrar: str) -> list[dict]:
        return supporter_dispatches(self._current(), supporter_id, registrar=registrar)

    def deployments(self, *, tenant: str | None = None, supporter: tuple[str, str] | None = None,
                    status: str | None, target_id: str | None, after: str | None, limit: int) -> list[dict]:
        return list_deployments(self._current(), tenant=tenant, supporter=supporter, status=status,
                                target_id=target_id, after=after, limit=limit)

    def deployment_target(self, target_id: UUID) -> dict | None:
        # Kept by the INTAKE consumer, not from our log: nothing to catch up with.
        return deployment_target(self._runtime.engine, target_id)

    def roster(self, tenant: str) -> list[dict]:
        # SQLite gives the flag back as 0/1.
        return [{**r, "use_suspended": bool(r["use_suspended"])} for r in roster_of(self._current(), tenant)]

    def open_tasks(self, tenant: str) -> dict[str, list[dict]]:
        """Reports waiting for review (data) and 消去の通知 waiting for a decision (erasures)."""
        engine = self._current()
        return {"data": open_tasks(engine, tenant), "erasures": open_erasure_tasks(engine, tenant)}

    def subject_consent(self, subject_ref: str, dispatch_id: UUID) -> dict | None:
        """The person's consent recorded on this dispatch, as the privacy records keep it."""
        return next((c for c in consents_of(self._current(), subject_ref, None)
                     if c["aggregate_id"] == str(dispatch_id)), None)

    def signed_receipt(self, **fields: Any) -> dict:
        return consent_receipt(self._runtime.require_audit(), **fields)
