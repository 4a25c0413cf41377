"""Agency: 関係機関 in the directory, with one of the ministry's 21 categories (libs/domain/agencies)."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import agencies, intake
from libs.domain.codes import validate_lg_code
from services.intake.domain.errors import InvalidAgency


class Agency(Aggregate):
    AgencyRegistered = intake.AgencyRegistered

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
