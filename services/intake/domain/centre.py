"""Centre: ひきこもり地域支援センター — 000 §2 (設置運営事業), run by a prefecture or designated city."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import intake
from libs.domain.codes import validate_lg_code
from services.intake.domain.errors import InvalidCentre


class Centre(Aggregate):
    CentreRegistered = intake.CentreRegistered

    @event(CentreRegistered)
    def __init__(self, id: UUID, tenant: str, name: str, kind: str, site: str) -> None:  # noqa: A002
        self.tenant = tenant
        self.name = name
        self.kind = kind
        self.site = site

    @classmethod
    def register(cls, *, id: UUID, tenant: str, name: str, kind: str, site: str) -> Centre:  # noqa: A002
        validate_lg_code(tenant)
        if not name.strip():
            raise InvalidCentre("a centre needs a name")
        if kind not in intake.CENTRE_KINDS:
            raise InvalidCentre(f"kind must be one of {intake.CENTRE_KINDS}")
        if site not in intake.CENTRE_SITES:
            raise InvalidCentre(f"site must be one of {intake.CENTRE_SITES}")
        return cls(id=id, tenant=tenant, name=name.strip(), kind=kind, site=site)
