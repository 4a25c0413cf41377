"""/v1/consultation-imports: a centre's history moved in from another system in bulk
(application/imports.py)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from libs.platform.web.deps import IdempotencyKey, PrincipalDep
from libs.platform.web.routing import OneHopRoute
from services.intake.api.deps import IntakeDep
from services.intake.api.routes.cases import consultation_public
from services.intake.api.schemas import ConsultationImportCreate, ConsultationImportPublic
from services.intake.application.imports import ImportItem

router = APIRouter(route_class=OneHopRoute, prefix="/v1/consultation-imports", tags=["cases"])


@router.post("", status_code=201, response_model=ConsultationImportPublic,
             responses={200: {"model": ConsultationImportPublic,
                              "description": "A retry with the same Idempotency-Key and import: what it recorded"}})
def import_consultations(body: ConsultationImportCreate, actor: PrincipalDep, intake: IntakeDep, response: Response,
                         idempotency_key: IdempotencyKey = None) -> ConsultationImportPublic:
    """Record up to 500 consultations of the centre's open cases in one transaction: all of them, or
    none with 422 naming every refused item (`errors[].loc` = body, consultations, its index, …).
    Send an Idempotency-Key: a retry answers 200 with what the first import recorded."""
    imported = intake.import_consultations(actor, [
        ImportItem(case_id=c.case_id, channel=c.channel, consulted_by=c.consulted_by, occurred_at=c.occurred_at,
                   summary=c.summary) for c in body.consultations], idempotency_key)
    response.status_code = 201 if imported.created else 200
    data = [consultation_public(case, entry, intake.sealer) for case, entry in imported.consultations]
    return ConsultationImportPublic(data=data, count=len(data))
