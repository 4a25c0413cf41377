"""/v1/centres: registration, profile, staffing, 後方支援, workload and open referrals."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from libs.domain import intake as events
from libs.domain.codes import validate_lg_code
from libs.platform.web.created import answer_created
from libs.platform.web.deps import IdempotencyKey, PrincipalDep
from libs.platform.web.routing import OneHopRoute
from services.intake.api.deps import IntakeDep, IntakeReadsDep
from services.intake.api.schemas import (
    BackOfficeSupportCreate,
    BackOfficeSupportPublic,
    CentreCreate,
    CentreDates,
    CentreProfile,
    CentrePublic,
    CentreStaffing,
    ReferralsPublic,
    Workload,
)
from services.intake.application import IntakeApplication
from services.intake.domain.centre import Centre
from services.intake.domain.errors import UnknownCentre

router = APIRouter(route_class=OneHopRoute, prefix="/v1/centres", tags=["centres"])


def centre_public(centre: Centre) -> CentrePublic:
    return CentrePublic.model_validate({
        "id": centre.id, "name": centre.name, "kind": centre.kind, "site": centre.site,
        "prefecture": centre.tenant, "opened_on": getattr(centre, "opened_on", None),
        "closed_on": getattr(centre, "closed_on", None), "demo": getattr(centre, "demo", False),
        "profile": centre.profile, "coordinators": centre.coordinators,
        "outreach_workers": centre.outreach_workers, "municipal_support_workers": centre.municipal_support_workers,
        "shortfalls": centre.shortfalls(), "version": centre.version})


def _out(centre: Centre, response: Response) -> CentrePublic:
    response.headers["ETag"] = f'"{centre.version}"'
    return centre_public(centre)


@router.post("", status_code=201, response_model=CentrePublic)
def register_centre(body: CentreCreate, actor: PrincipalDep, intake: IntakeDep, response: Response,
                    idempotency_key: IdempotencyKey = None) -> CentrePublic:
    centre, created = intake.register_centre(
        actor, tenant=validate_lg_code(body.prefecture), name=body.name, kind=body.kind,
        site=body.site, idempotency_key=idempotency_key, opened_on=body.opened_on, closed_on=body.closed_on,
        demo=body.demo)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/centres/{centre.id}"
    return _out(centre, response)


@router.get("/{centre_id}", response_model=CentrePublic)
def get_centre(centre_id: UUID, actor: PrincipalDep, intake: IntakeDep, response: Response) -> CentrePublic:
    return _out(intake.get_centre(actor, centre_id), response)


@router.put("/{centre_id}/dates", response_model=CentrePublic)
def change_centre_dates(centre_id: UUID, body: CentreDates, actor: PrincipalDep, intake: IntakeDep,
                        response: Response) -> CentrePublic:
    """開所日 set or corrected, or the centre closed (廃止日): reporting counts it in each fiscal year
    it was open."""
    return _out(intake.change_centre_dates(actor, centre_id, opened_on=body.opened_on, closed_on=body.closed_on),
                response)


@router.put("/{centre_id}/profile", response_model=CentrePublic)
def set_centre_profile(centre_id: UUID, body: CentreProfile, actor: PrincipalDep, intake: IntakeDep,
                       response: Response) -> CentrePublic:
    values = body.model_dump(mode="json")
    values["hours"] = {day: list(span) for day, span in values["hours"].items()}
    return _out(intake.set_centre_profile(actor, centre_id, **values), response)


@router.put("/{centre_id}/staffing", response_model=CentrePublic)
def set_centre_staffing(centre_id: UUID, body: CentreStaffing, actor: PrincipalDep, intake: IntakeDep,
                        response: Response) -> CentrePublic:
    return _out(intake.set_centre_staffing(actor, centre_id, **body.model_dump()), response)


@router.post("/{centre_id}/backoffice-supports", status_code=201, response_model=BackOfficeSupportPublic)
def give_backoffice_support(centre_id: UUID, body: BackOfficeSupportCreate, actor: PrincipalDep,
                            intake: IntakeDep, response: Response,
                            idempotency_key: IdempotencyKey = None) -> BackOfficeSupportPublic:
    """後方支援: advice or a case consultation for a municipality or an agency."""
    made = intake.give_backoffice_support(actor, centre_id, idempotency_key=idempotency_key, **body.model_dump())
    answer_created(response, created=made.created, version=made.aggregate.version,
                   location=f"/v1/centres/{centre_id}/backoffice-supports/{made.resource_id}")
    return backoffice_support_public(intake, made.aggregate, made.resource_id)


@router.get("/{centre_id}/backoffice-supports/{support_id}", response_model=BackOfficeSupportPublic)
def get_backoffice_support(centre_id: UUID, support_id: UUID, actor: PrincipalDep,
                           intake: IntakeDep) -> BackOfficeSupportPublic:
    return backoffice_support_public(intake, intake.get_centre(actor, centre_id), support_id)


def backoffice_support_public(intake: IntakeApplication, centre: Centre, support_id: UUID) -> BackOfficeSupportPublic:
    e = intake.created_event(centre.id, support_id, events.BackOfficeSupportGiven, "support_id")
    if e is None:
        raise UnknownCentre(f"no back-office support {support_id} of this centre")
    return BackOfficeSupportPublic(support_id=support_id, centre_id=centre.id, given_on=e.given_on,
                                   recipient_kind=e.recipient_kind, recipient=e.recipient, kind=e.kind,
                                   centre_version=centre.version)


@router.get("/{centre_id}/workload", response_model=Workload)
def get_workload(centre_id: UUID, actor: PrincipalDep, reads: IntakeReadsDep,
                 fy: int | None = Query(default=None, ge=2009, le=2100)) -> dict:
    return reads.workload(actor, centre_id, fy=fy)


@router.get("/{centre_id}/open-referrals", response_model=ReferralsPublic)
def get_open_referrals(centre_id: UUID, actor: PrincipalDep, reads: IntakeReadsDep) -> ReferralsPublic:
    """Referrals awaiting the agency's outcome."""
    return ReferralsPublic.model_validate({"data": reads.open_referrals(actor, centre_id)})
