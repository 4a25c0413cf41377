"""Agency: 関係機関 in the directory, with one of the ministry's 21 categories (libs/domain/agencies)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import agencies, intake
from libs.domain.codes import validate_lg_code
from services.intake.domain.errors import AgencyRetired, InvalidAgency


class Agency(Aggregate):
    AgencyRegistered = intake.AgencyRegistered
    AgencyRetired = intake.AgencyRetired

    @event(AgencyRegistered)
    def __init__(self, id: UUID, tenant: str, name: str, category: str, category_version: str,
                 municipality: str, address: str, phone: str) -> None:
        self.tenant = tenant
        self.name = name
        self.category = category
        self.category_version = category_version
        self.municipality = municipality
        self.address = address
        self.phone = phone
        self.retired_on: date | None = None

    @classmethod
    def register(cls, *, id: UUID, tenant: str, name: str, category: str, municipality: str,
                 address: str, phone: str) -> Agency:
        validate_lg_code(tenant)
        validate_lg_code(municipality)
        if category not in agencies.BY_CODE:
            raise InvalidAgency(f"category must be one of the ministry's list {agencies.VERSION}",
                                categories=[c.code for c in agencies.CATEGORIES])
        if not name.strip():
            raise InvalidAgency("an agency needs a name")
        return cls(id=id, tenant=tenant, name=name.strip(), category=category, category_version=agencies.VERSION,
                   municipality=municipality, address=address, phone=phone)

    def retire(self, *, retired_on: date) -> None:
        self.require_active()
        self._retired(retired_on=retired_on)

    @event(AgencyRetired)
    def _retired(self, retired_on: date) -> None:
        self.retired_on = retired_on

    def require_active(self) -> None:
        """A retired agency takes nothing new: no disclosure, no referral."""
        if self.retired_on is not None:
            raise AgencyRetired(f"{self.name} left the directory on {self.retired_on}")
