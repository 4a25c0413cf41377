"""/v1/agencies: the 関係機関 directory maintained by local governments."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from libs.domain import agencies
from libs.platform.web.deps import IdempotencyKey, PrincipalDep
from services.intake.api.deps import IntakeDep
from services.intake.api.schemas import AgencyCreate, AgencyPublic, AgencyRetirement
from services.intake.domain.agency import Agency

router = APIRouter(prefix="/v1/agencies", tags=["agencies"])


def agency_public(a: Agency) -> AgencyPublic:
    return AgencyPublic(id=a.id, name=a.name, category=a.category, category_label=agencies.category(a.category).label,
                        municipality=a.municipality, address=a.address, phone=a.phone,
                        retired_on=a.retired_on)


@router.post("", status_code=201, response_model=AgencyPublic)
def register_agency(body: AgencyCreate, actor: PrincipalDep, intake: IntakeDep, response: Response,
                    idempotency_key: IdempotencyKey = None) -> AgencyPublic:
    agency, created = intake.register_agency(actor, idempotency_key=idempotency_key, **body.model_dump())
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/agencies/{agency.id}"
    return agency_public(agency)


@router.post("/{agency_id}/retirement", response_model=AgencyPublic)
def retire_agency(agency_id: UUID, body: AgencyRetirement, actor: PrincipalDep, intake: IntakeDep) -> AgencyPublic:
    """Takes the agency out of the directory; only the government that registered it."""
    return agency_public(intake.retire_agency(actor, agency_id, retired_on=body.retired_on))
