"""Use cases of the 登録名簿: a registrar provides it to a municipality (the third-party
provision record of APPI), and the municipality reads what it received."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from libs.domain.codes import validate_lg_code
from libs.domain.errors import InvalidInput
from libs.platform.privacy.access import record_access
from libs.platform.web.auth import Principal
from services.registry.application.access import officer_tenant, roster_registrar_scope, sees_roster_details
from services.registry.application.base import RegistryBase, today_jst
from services.registry.domain.errors import NotEligibleForRoster, RosterNotFound
from services.registry.domain.roster import RosterProvision
from services.registry.domain.supporter import Supporter

# 資料6 columns → the applicant fields that carry them.
ITEM_FIELDS = {
    "name": ("furigana", "name"), "gender": ("gender",), "birth_date": ("birth_date",),
    "address": ("postal_code", "address"), "contact": ("phone", "mobile", "email"),
}


class RosterUseCases(RegistryBase):
    def provide_roster(self, actor: Principal, *, recipient: str, provided_on: date, items: list[str],
                       supporter_ids: list[UUID] | None, idempotency_key: str | None) -> tuple[RosterProvision, bool]:
        """Provide the named supporters (by default every current one) to a municipality;
        returns the provision and whether it was made now (not a retry)."""
        tenant = officer_tenant(actor)
        creation = self.creation("roster", tenant, idempotency_key, recipient=recipient, provided_on=provided_on,
                                 items=sorted(items),
                                 supporter_ids=None if supporter_ids is None else sorted(map(str, supporter_ids)))
        if supporter_ids is None:
            supporter_ids = self.reads.current_supporters(tenant, provided_on)
        validate_lg_code(recipient)
        if provided_on > today_jst():
            raise InvalidInput("provided_on is in the future")
        roster_id = creation.new_id()
        return self.create_once(RosterProvision, roster_id, lambda: self._roster(
            roster_id, tenant, recipient, provided_on, items, supporter_ids), creation)

    def get_roster(self, actor: Principal, roster_id: UUID) -> RosterProvision:
        """A provision, for the officers of the registrar that made it."""
        roster = self.existing(RosterProvision, roster_id)
        if roster is None or roster.tenant != officer_tenant(actor):
            raise RosterNotFound(f"no roster provision {roster_id} of yours")
        return roster

    def _roster(self, roster_id: UUID, tenant: str, recipient: str, provided_on: date, items: list[str],
                supporter_ids: list[UUID]) -> RosterProvision:
        entries = []
        for supporter_id in dict.fromkeys(supporter_ids):
            supporter = self._supporter_of(tenant, supporter_id)
            if not supporter.is_current(provided_on) or not supporter.is_current(today_jst()):
                raise NotEligibleForRoster(
                    f"supporter {supporter_id} has no current registration with an unwithdrawn consent"
                    + (" (the use of their data is suspended: 利用停止)" if supporter.use_suspended else ""),
                    use_suspended=supporter.use_suspended,
                    supporter_id=str(supporter_id), current_status=supporter.status)
            assert supporter.term_ends_on is not None  # is_current: within a term
            entries.append({"supporter_id": str(supporter.id), "registration_number": supporter.registration_number,
                            "consent_id": str(supporter.consent_id),
                            "term_ends_on": supporter.term_ends_on.isoformat()})
        return RosterProvision.provide(id=roster_id, tenant=tenant, recipient=recipient, provided_on=provided_on,
                                       items=items, entries=entries)

    def roster_received(self, actor: Principal, municipality: str) -> list[dict]:
        """Every provision entry to a municipality, newest first, with whether the supporter is
        still current; the municipality's own staff see the provided items of current ones."""
        rows = self.reads.roster_received(municipality, roster_registrar_scope(actor, municipality))
        opens_details = sees_roster_details(actor, municipality)
        today = today_jst()
        entries: list[dict] = []
        opened_for: list[str] = []
        for row in rows:
            supporter = self.existing(Supporter, UUID(row["supporter_id"]))
            items = row["items"].split(",")
            current = supporter.is_current(today)
            details = None
            if current and opens_details:
                opened = self.details(supporter)
                if isinstance(opened, dict):
                    details = {f: opened[f] for i in items for f in ITEM_FIELDS.get(i, ()) if f in opened}
                    opened_for.append(str(supporter.id))
            entries.append({**row, "registrar": row["tenant"], "items": items, "current": current,
                            "status": supporter.status, "term_ends_on": supporter.term_ends_on, "details": details})
        for subject in opened_for:  # one record per supporter: each finds it in their own 開示請求
            record_access(self, tenant=municipality, accessed_by=actor.sub, accessor_org=actor.org,
                          purpose_code="roster_received", note=None, subject=subject)
        return entries
