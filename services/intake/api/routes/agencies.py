"""/v1/agencies: the 関係機関 directory maintained by local governments."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from libs.domain import agencies
from libs.platform.web.deps import IdempotencyKey, PrincipalDep
from libs.platform.web.inputs import Cursor
from libs.platform.web.routing import OneHopRoute
from services.intake.api.deps import IntakeDep, IntakeReadsDep
from services.intake.api.schemas import AgenciesPublic, AgencyCategory, AgencyCreate, AgencyPublic, AgencyRetirement
from services.intake.domain.agency import Agency

router = APIRouter(route_class=OneHopRoute, prefix="/v1/agencies", tags=["agencies"])


def agency_public(a: Agency) -> AgencyPublic:
    return AgencyPublic(id=a.id, name=a.name, category=a.category, category_label=agencies.category(a.category).label,
                        municipality=a.municipality, address=a.address, phone=a.phone,
                        retired_on=a.retired_on, retired=a.retired_on is not None)


@router.get("", response_model=AgenciesPublic)
def list_agencies(actor: PrincipalDep, reads: IntakeReadsDep, category: AgencyCategory | None = None,
                  retired: bool | None = Query(default=None, description="only retired (true) or active (false)"),
                  cursor: Cursor = None, limit: int = Query(default=50, ge=1, le=500)) -> AgenciesPublic:
    """For officers of a local government: the agencies of its jurisdiction (a prefecture: its own
    and its municipalities'), retired ones included and flagged, in pages."""
    rows = reads.agencies(actor, category=category, retired=retired, after=cursor, limit=limit)
    return AgenciesPublic.model_validate({"data": [
        {**r, "id": r["agency_id"], "category_label": agencies.category(r["category"]).label,
         "retired": r["retired_on"] is not None} for r in rows],
        "next_cursor": rows[-1]["agency_id"] if len(rows) == limit else None})


@router.get("/{agency_id}", response_model=AgencyPublic)
def get_agency(agency_id: UUID, actor: PrincipalDep, intake: IntakeDep) -> AgencyPublic:
    """One agency of the caller's jurisdiction (retired ones too), as its registration answered it."""
    return agency_public(intake.agency_for_officer(actor, agency_id))


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
