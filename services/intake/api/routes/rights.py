"""/v1/rights-requests: the person's requests about their data (開示・訂正・利用停止・消去) and their
30-day deadlines."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response

from libs.domain.fiscal import JST
from libs.platform.web.deps import IdempotencyKey, PrincipalDep
from libs.platform.web.routing import OneHopRoute
from services.intake.api.deps import IntakeDep, IntakeReadsDep
from services.intake.api.schemas import (
    RightsAnswerCreate,
    RightsRequestCreate,
    RightsRequestPublic,
    RightsRequestsPublic,
)
from services.intake.domain.rights import RightsRequest

router = APIRouter(route_class=OneHopRoute, prefix="/v1/rights-requests", tags=["rights of the person"])


def _public(r: RightsRequest) -> RightsRequestPublic:
    return RightsRequestPublic(request_id=r.id, case_id=r.case_id, centre_id=r.centre_id, kind=r.kind,
                               received_on=r.received_on, due_on=r.due_on, answered_on=r.answered_on,
                               outcome=r.outcome, overdue=r.overdue(datetime.now(JST).date()))


@router.post("", status_code=201, response_model=RightsRequestPublic)
def receive_rights_request(body: RightsRequestCreate, actor: PrincipalDep, intake: IntakeDep, response: Response,
                           idempotency_key: IdempotencyKey = None) -> RightsRequestPublic:
    request, created = intake.receive_rights_request(actor, case_id=body.case_id, kind=body.kind,
                                                     received_on=body.received_on, idempotency_key=idempotency_key)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"{router.prefix}/{request.id}"
    return _public(request)


@router.get("/{request_id}", response_model=RightsRequestPublic)
def get_rights_request(request_id: UUID, actor: PrincipalDep, intake: IntakeDep) -> RightsRequestPublic:
    return _public(intake.get_rights_request(actor, request_id))


@router.post("/{request_id}/answer", response_model=RightsRequestPublic)
def answer_rights_request(request_id: UUID, body: RightsAnswerCreate, actor: PrincipalDep,
                          intake: IntakeDep) -> RightsRequestPublic:
    return _public(intake.answer_rights_request(actor, request_id, answered_on=body.answered_on,
                                                outcome=body.outcome))


@router.get("", response_model=RightsRequestsPublic)
def list_rights_requests(actor: PrincipalDep, reads: IntakeReadsDep, open_only: bool = True) -> RightsRequestsPublic:
    """The caller's centre's requests, oldest deadline first; overdue ones flagged."""
    return RightsRequestsPublic.model_validate({"data": reads.rights_requests(actor, open_only=open_only)})
