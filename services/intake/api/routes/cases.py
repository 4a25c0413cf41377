"""/v1/cases and their consultations."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from libs.platform.deps import IdempotencyKey, IfMatch, PrincipalDep, expected_version
from libs.platform.sealing import Sealer
from services.intake.api.deps import IntakeDep
from services.intake.api.schemas import (
    CaseCreate,
    CasePublic,
    ConsultationCreate,
    ConsultationPublic,
    ConsultationsPublic,
    SupporterRequestCreate,
    SupporterRequestPublic,
)
from services.intake.domain.case import Case

router = APIRouter(prefix="/v1/cases", tags=["cases"])


def case_public(case: Case, sealer: Sealer) -> CasePublic:
    return CasePublic(
        id=case.id, centre_id=case.centre_id, client_kind=case.client_kind, age_group=case.age_group,
        personal_details=sealer.open(case.personal_details), consultation_count=len(case.consultations),
        version=case.version,
    )


def consultation_public(case: Case, entry: dict, sealer: Sealer) -> ConsultationPublic:
    return ConsultationPublic(
        id=entry["consultation_id"], case_id=case.id, channel=entry["channel"],
        consulted_by=entry["consulted_by"], occurred_at=entry["occurred_at"],
        summary=sealer.open(entry["summary"]), case_version=case.version,
    )


@router.post("", status_code=201, response_model=CasePublic)
def open_case(body: CaseCreate, actor: PrincipalDep, intake: IntakeDep, response: Response,
              idempotency_key: IdempotencyKey = None) -> CasePublic:
    details = body.personal_details.model_dump(mode="json", exclude_none=True) if body.personal_details else None
    case, created = intake.open_case(
        actor, centre_id=body.centre_id, client_kind=body.client_kind, age_group=body.age_group,
        personal_details=details or None, idempotency_key=idempotency_key,
    )
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/cases/{case.id}"
    response.headers["ETag"] = f'"{case.version}"'
    return case_public(case, intake.sealer)


@router.get("/{case_id}", response_model=CasePublic)
def get_case(case_id: UUID, actor: PrincipalDep, intake: IntakeDep, response: Response) -> CasePublic:
    case = intake.get_case(actor, case_id)
    response.headers["ETag"] = f'"{case.version}"'
    return case_public(case, intake.sealer)


@router.post("/{case_id}/consultations", status_code=201, response_model=ConsultationPublic)
def record_consultation(case_id: UUID, body: ConsultationCreate, actor: PrincipalDep, intake: IntakeDep,
                        response: Response, idempotency_key: IdempotencyKey = None,
                        if_match: IfMatch = None) -> ConsultationPublic:
    recorded = intake.record_consultation(
        actor, case_id, expected_version=expected_version(if_match), channel=body.channel,
        consulted_by=body.consulted_by, occurred_at=body.occurred_at, summary=body.summary,
        idempotency_key=idempotency_key,
    )
    entry = next(c for c in recorded.case.consultations if c["consultation_id"] == recorded.consultation_id)
    response.status_code = 201 if recorded.created else 200
    response.headers["ETag"] = f'"{recorded.case.version}"'
    return consultation_public(recorded.case, entry, intake.sealer)


@router.get("/{case_id}/consultations", response_model=ConsultationsPublic)
def list_consultations(case_id: UUID, actor: PrincipalDep, intake: IntakeDep) -> ConsultationsPublic:
    case = intake.get_case(actor, case_id)
    data = [consultation_public(case, c, intake.sealer) for c in case.consultations]
    return ConsultationsPublic(data=data, count=len(data))


@router.post("/{case_id}/supporter-requests", status_code=201, response_model=SupporterRequestPublic)
def request_supporter(case_id: UUID, body: SupporterRequestCreate, actor: PrincipalDep, intake: IntakeDep,
                      idempotency_key: IdempotencyKey = None) -> SupporterRequestPublic:
    case, request_id = intake.request_supporter(
        actor, case_id, municipality=body.municipality, needs=list(body.needs), preferences=body.preferences,
        requested_on=body.requested_on, idempotency_key=idempotency_key)
    return SupporterRequestPublic(request_id=request_id, case_id=case.id, municipality=body.municipality,
                                  case_version=case.version)
