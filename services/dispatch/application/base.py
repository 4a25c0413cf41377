"""What every dispatch use case shares: who is an officer of which municipality, who is the
supporter of a dispatch or deployment, whether a supporter may act for it, and the read models a
use case reads from."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from libs.domain.codes import validate_lg_code
from libs.domain.fiscal import JST
from libs.platform.privacy.sealing import Sealer
from libs.platform.store.application import ServiceApplication
from libs.platform.web.auth import Principal
from libs.platform.web.supporters import is_the_supporter
from services.dispatch.application.reads import DispatchReads
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.errors import SupporterNotEligible
from services.dispatch.domain.roster_entry import RosterEntry

OFFICER = "municipal_officer"
CENTRE_STAFF = "centre_staff"


def today_jst() -> date:
    return datetime.now(JST).date()


class DispatchBase(ServiceApplication):
    def __init__(self, env: dict[str, str], sealer: Sealer, reads: DispatchReads | None = None) -> None:
        super().__init__(env, sealer)
        self._reads = reads

    @property
    def reads(self) -> DispatchReads:
        # An application opened on a bare store (tests, tools) has no read models to read.
        if self._reads is None:
            raise RuntimeError("this dispatch application was built without its read models")
        return self._reads

    @staticmethod
    def _officer_tenant(actor: Principal) -> str:
        """The municipality the caller is an officer of (403 for any other role)."""
        actor.require(OFFICER)
        return validate_lg_code(actor.org)

    def _is_the_supporter(self, actor: Principal, tenant: str, supporter_id: UUID | None) -> bool:
        """The caller is this supporter, registered with the registrar their token names (the one
        that provided them to the municipality: the roster entry it was given)."""
        def registrar() -> str | None:
            entry = self.existing(RosterEntry, RosterEntry.id_for(tenant, supporter_id)) if supporter_id else None
            return entry.registrar if entry is not None else None
        return is_the_supporter(actor, supporter_id, registrar)

    def _eligible_entry(self, tenant: str, supporter_id: UUID, on: date) -> RosterEntry:
        entry = self.existing(RosterEntry, RosterEntry.id_for(tenant, supporter_id))
        if entry is None:
            raise SupporterNotEligible(f"supporter {supporter_id} was never provided to your municipality",
                                       reasons=["not on the roster provided to this municipality"])
        problems = entry.eligibility_problems(on)
        if problems:
            raise SupporterNotEligible(f"supporter {supporter_id} may not act for your municipality", reasons=problems)
        return entry

    def _sealed_text(self, dispatch: Dispatch, text: str | None) -> dict | None:
        """Free text about the person, sealed under the dispatch's key; no text, nothing sealed."""
        if not text:
            return None
        return self.seal_required(dispatch.id, {"text": text}, "text")

    def _supporter_problems(self, tenant: str, supporter_id: UUID | None, on: date) -> list[str]:
        """Why this supporter may not act for this municipality on that day (none assigned: none)."""
        if supporter_id is None:
            return []
        entry = self.existing(RosterEntry, RosterEntry.id_for(tenant, supporter_id))
        return entry.eligibility_problems(on) if entry else ["not on the roster"]
