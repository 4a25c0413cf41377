"""/v1/centres"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from libs.domain.codes import validate_lg_code
from libs.platform.deps import IdempotencyKey, PrincipalDep
from services.intake.api.deps import IntakeDep
from services.intake.api.schemas import CentreCreate, CentrePublic
from services.intake.domain.centre import Centre

router = APIRouter(prefix="/v1/centres", tags=["centres"])


def centre_public(centre: Centre) -> CentrePublic:
    return CentrePublic(id=centre.id, name=centre.name, kind=centre.kind, site=centre.site,
                        prefecture=centre.tenant, version=centre.version)


@router.post("", status_code=201, response_model=CentrePublic)
def register_centre(body: CentreCreate, actor: PrincipalDep, intake: IntakeDep, response: Response,
                    idempotency_key: IdempotencyKey = None) -> CentrePublic:
    centre, created = intake.register_centre(
        actor, tenant=validate_lg_code(body.prefecture), name=body.name, kind=body.kind,
        site=body.site, idempotency_key=idempotency_key,
    )
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/centres/{centre.id}"
    response.headers["ETag"] = f'"{centre.version}"'
    return centre_public(centre)


@router.get("/{centre_id}", response_model=CentrePublic)
def get_centre(centre_id: UUID, actor: PrincipalDep, intake: IntakeDep, response: Response) -> CentrePublic:
    centre = intake.get_centre(actor, centre_id)
    response.headers["ETag"] = f'"{centre.version}"'
    return centre_public(centre)
