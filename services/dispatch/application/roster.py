"""Use cases of the municipality's roster (名簿管理): only its officers see or change it."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from libs.platform.web.auth import Principal
from services.dispatch.application.base import DispatchBase
from services.dispatch.domain.errors import RosterEntryNotFound
from services.dispatch.domain.roster_entry import RosterEntry


class RosterUseCases(DispatchBase):
    def roster(self, actor: Principal) -> list[dict]:
        return self.reads.roster(self._officer_tenant(actor))

    def _roster_entry(self, actor: Principal, supporter_id: UUID) -> RosterEntry:
        tenant = self._officer_tenant(actor)
        entry = self.existing(RosterEntry, RosterEntry.id_for(tenant, supporter_id))
        if entry is None:
            raise RosterEntryNotFound(f"supporter {supporter_id} is not on your roster")
        return entry

    def reconfirm_intent(self, actor: Principal, supporter_id: UUID, *, confirmed_on: date) -> RosterEntry:
        entry = self._roster_entry(actor, supporter_id)
        self.change(entry, lambda e: e.reconfirm_intent(confirmed_on=confirmed_on))
        return entry

    def open_tasks(self, actor: Principal) -> dict[str, list[dict]]:
        """Reports whose 今後の方針 is 中断・終了・その他, and dispatches whose person's data was
        erased at the referring centre (消去の通知), waiting for the officer."""
        return self.reads.open_tasks(self._officer_tenant(actor))
