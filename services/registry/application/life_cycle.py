"""Use cases of a registration's life: corrections and consent (the supporter may do these
themself), 辞退, 利用停止, 取消し with its inquiries, expiry and erasure."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from libs.domain.errors import InvalidInput
from libs.platform.store.sealed import sealing
from libs.platform.web.auth import NotAllowed, Principal
from services.registry.application.access import is_officer_of
from services.registry.application.base import RegistryBase
from services.registry.domain.supporter import Supporter


class LifeCycleUseCases(RegistryBase):
    @sealing
    def change_details(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None,
                       changes: dict, changed_on: date) -> Supporter:
        """訂正 of the registered details, by the registrar or the supporter themself."""
        supporter = self._supporter_for_officer(actor, supporter_id, or_themself=True)
        self.change(supporter, lambda s: s.change_details(
            changed_fields=list(changes), changes=self.seal_required(supporter_id, changes, "changes"),
            changed_on=changed_on),
            expected_version=expected_version)
        return supporter

    def withdraw_consent(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None,
                         withdrawn_on: date) -> Supporter:
        """The supporter (or the registrar for them) withdraws the 同意: no roster carries them."""
        supporter = self._supporter_for_officer(actor, supporter_id, or_themself=True)
        self.change(supporter, lambda s: s.withdraw_consent(withdrawn_on=withdrawn_on),
                    expected_version=expected_version)
        return supporter

    @sealing
    def withdraw(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None,
                 withdrawn_on: date, reason: str) -> Supporter:
        """登録の辞退 (第15条), recorded by the registrar."""
        supporter = self._supporter_for_officer(actor, supporter_id)
        self.change(supporter, lambda s: s.withdraw(withdrawn_on=withdrawn_on, reason=self.seal(supporter_id, reason)),
                    expected_version=expected_version)
        return supporter

    def suspend_use(self, actor: Principal, supporter_id: UUID, *, suspended_on: date) -> Supporter:
        """利用停止 at the supporter's request: no roster provision of their data until resumed."""
        supporter = self._supporter_for_officer(actor, supporter_id)
        self.change(supporter, lambda s: s.suspend_use(suspended_on=suspended_on))
        return supporter

    def resume_use(self, actor: Principal, supporter_id: UUID, *, resumed_on: date) -> Supporter:
        supporter = self._supporter_for_officer(actor, supporter_id)
        self.change(supporter, lambda s: s.resume_use(resumed_on=resumed_on))
        return supporter

    @sealing
    def record_revocation_inquiry(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None,
                                  kind: str, held_on: date, findings: str) -> Supporter:
        """The investigation and the hearing that must precede a 取消し (第16条)."""
        supporter = self._supporter_for_officer(actor, supporter_id)
        self.change(supporter, lambda s: s.record_inquiry(kind=kind, held_on=held_on,
                                                          findings=self.seal(supporter_id, findings)),
                    expected_version=expected_version)
        return supporter

    @sealing
    def revoke(self, actor: Principal, supporter_id: UUID, *, expected_version: int | None,
               revoked_on: date, grounds: str) -> Supporter:
        supporter = self._supporter_for_officer(actor, supporter_id)

        def revoke(s: Supporter) -> None:
            sealed_grounds = self.seal(supporter_id, grounds)
            if sealed_grounds is None:  # seal gives None for an empty value
                raise InvalidInput("grounds must not be empty")
            s.revoke(revoked_on=revoked_on, grounds=sealed_grounds)

        self.change(supporter, revoke, expected_version=expected_version)
        return supporter

    def erase_supporter(self, actor: Principal, supporter_id: UUID, *, erased_on: date, basis: str) -> Supporter:
        """After the registration ended: record SupporterDataErased, then destroy the key (the
        record and its numbers remain). The supporter asks; the registrar decides."""
        supporter = self.get_supporter(actor, supporter_id)
        if not is_officer_of(actor, supporter.tenant):
            raise NotAllowed("only the registrar's officers")
        return self.erase_personal_data(supporter, lambda s: s.erase(erased_on=erased_on, basis=basis))

    def expire_due(self, today: date, candidates: list[UUID]) -> list[UUID]:
        """Record RegistrationExpired once for each candidate whose term has ended (the job's
        use case: candidates come from a read model that may lag, the aggregate decides)."""
        expired = []
        for supporter_id in candidates:
            supporter = self.existing(Supporter, supporter_id)
            if supporter is not None and supporter.expire_if_due(today):
                self.save(supporter)
                expired.append(supporter_id)
        return expired
