"""What every registry use case shares: the Application, the registrar, loading a supporter
under the access rules, and the read models it may consult."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from libs.domain.fiscal import JST
from libs.platform.privacy.sealing import Sealer
from libs.platform.store.application import ServiceApplication
from libs.platform.web.auth import NotAllowed, Principal
from services.registry.application.access import is_officer_of, is_the_supporter, sees
from services.registry.application.reads import RegistryReads
from services.registry.domain.errors import SupporterNotFound
from services.registry.domain.registrar import Registrar
from services.registry.domain.supporter import Supporter


def today_jst() -> date:
    return datetime.now(JST).date()


class RegistryBase(ServiceApplication):
    def __init__(self, env: dict[str, str], sealer: Sealer, reads: RegistryReads | None = None) -> None:
        super().__init__(env, sealer)
        self._reads = reads

    @property
    def reads(self) -> RegistryReads:
        """The read models (tests give a fake of the same methods)."""
        if self._reads is None:
            raise LookupError("this registry application was built without its read models")
        return self._reads

    def registrar(self, tenant: str) -> Registrar:
        return self.existing(Registrar, Registrar.id_for(tenant)) or Registrar.open(tenant)

    def get_supporter(self, actor: Principal, supporter_id: UUID) -> Supporter:
        supporter = self.existing(Supporter, supporter_id)
        if supporter is None or not sees(actor, supporter):
            raise SupporterNotFound(f"no supporter {supporter_id} visible to you")
        return supporter

    def _supporter_for_officer(self, actor: Principal, supporter_id: UUID, *, or_themself: bool = False) -> Supporter:
        """A supporter the actor may change: as an officer of its registrar or, where the use
        case lets the supporter act on their own record, as that supporter."""
        supporter = self.get_supporter(actor, supporter_id)
        if not (is_officer_of(actor, supporter.tenant) or (or_themself and is_the_supporter(actor, supporter))):
            raise NotAllowed("only the registrar's officers (or, for this, the supporter)")
        return supporter

    def _supporter_of(self, tenant: str, supporter_id: UUID) -> Supporter:
        """A supporter of that registrar, for a use case whose actor was checked already."""
        supporter = self.existing(Supporter, supporter_id)
        if supporter is None or supporter.tenant != tenant:
            raise SupporterNotFound(f"no supporter {supporter_id} of yours")
        return supporter

    def details(self, supporter: Supporter) -> dict | str | None:
        """The applicant's registered details with every change applied, opened."""
        opened = self.sealer.open(supporter.applicant)
        if not isinstance(opened, dict):
            return opened  # erased
        for change in supporter.changes:
            values = self.sealer.open(change)
            if isinstance(values, dict):
                opened.update(values)
        return opened
