"""/v1/deployments: a supporter deployed to a place, a programme or an agency → accepted → reports → end."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from libs.domain import dispatch as events
from libs.platform.web.created import answer_created
from libs.platform.web.deps import IdempotencyKey, PrincipalDep
from libs.platform.web.inputs import Cursor
from libs.platform.web.routing import OneHopRoute
from services.dispatch.api.deps import DispatchDep
from services.dispatch.api.schemas import (
    DeploymentAcceptanceCreate,
    DeploymentCreate,
    DeploymentEndCreate,
    DeploymentPublic,
    DeploymentReportCreate,
    DeploymentReportPublic,
    DeploymentsPublic,
    DeploymentStatus,
)
from services.dispatch.application import DispatchApplication
from services.dispatch.domain.deployment import Deployment
from services.dispatch.domain.errors import DeploymentNotFound

router = APIRouter(route_class=OneHopRoute, prefix="/v1", tags=["deployments"])


def _out(d: Deployment, response: Response) -> DeploymentPublic:
    response.headers["ETag"] = f'"{d.version}"'
    # Validated, not constructed: the aggregate keeps its codes as plain str, the schema as Literals.
    return DeploymentPublic.model_validate({
        "id": d.id, "tenant": d.tenant, "status": d.status, "supporter_id": d.supporter_id,
        "registration_number": d.registration_number, "target_kind": d.target_kind, "target_id": d.target_id,
        "target_name": d.target_name, "role": d.role, "starts_on": d.starts_on, "ends_on": d.ends_on,
        "accepted_on": d.accepted_on, "reports": len(d.reports), "end_reason": d.end_reason,
        "version": d.version})


@router.post("/deployments", status_code=201, response_model=DeploymentPublic)
def deploy_supporter(body: DeploymentCreate, actor: PrincipalDep, app: DispatchDep, response: Response,
                     idempotency_key: IdempotencyKey = None) -> DeploymentPublic:
    d, created = app.deploy(actor, supporter_id=body.supporter_id, target_kind=body.target_kind,
                            target_id=body.target_id, role=body.role, starts_on=body.starts_on, ends_on=body.ends_on,
                            idempotency_key=idempotency_key)
    answer_created(response, created=created, location=f"/v1/deployments/{d.id}")
    return _out(d, response)


@router.get("/deployments", response_model=DeploymentsPublic)
def get_deployments(actor: PrincipalDep, app: DispatchDep, status: DeploymentStatus | None = None,
                    target_id: UUID | None = None, cursor: Cursor = None,
                    limit: int = Query(default=50, ge=1, le=500)) -> DeploymentsPublic:
    """The municipality's deployments; for a supporter, their own."""
    rows = app.list_deployments(actor, status=status, target_id=target_id, after=cursor, limit=limit)
    return DeploymentsPublic.model_validate(
        {"data": rows, "next_cursor": rows[-1]["deployment_id"] if len(rows) == limit else None})


@router.get("/deployments/{deployment_id}", response_model=DeploymentPublic)
def get_deployment(deployment_id: UUID, actor: PrincipalDep, app: DispatchDep, response: Response) -> DeploymentPublic:
    return _out(app.get_deployment(actor, deployment_id), response)


@router.post("/deployments/{deployment_id}/acceptance", response_model=DeploymentPublic)
def accept_deployment(deployment_id: UUID, body: DeploymentAcceptanceCreate, actor: PrincipalDep, app: DispatchDep,
                      response: Response) -> DeploymentPublic:
    """The deployed supporter agrees to act; eligibility is checked again on that day."""
    return _out(app.accept_deployment(actor, deployment_id, accepted_on=body.accepted_on), response)


@router.post("/deployments/{deployment_id}/activity-reports", status_code=201, response_model=DeploymentReportPublic)
def report_deployment_activity(deployment_id: UUID, body: DeploymentReportCreate, actor: PrincipalDep,
                               app: DispatchDep, response: Response,
                               idempotency_key: IdempotencyKey = None) -> DeploymentReportPublic:
    made = app.report_deployment_activity(
        actor, deployment_id, idempotency_key=idempotency_key,
        narrative=body.model_dump(mode="json", include={"content", "note"}, exclude_none=True),
        reported_on=body.reported_on, activity_date=body.activity_date, starts_at=body.starts_at,
        ends_at=body.ends_at, participants=body.participants)
    answer_created(response, created=made.created, version=made.aggregate.version,
                   location=f"/v1/deployments/{deployment_id}/activity-reports/{made.resource_id}")
    return deployment_report_public(app, made.aggregate, made.resource_id)


@router.get("/deployments/{deployment_id}/activity-reports/{report_id}", response_model=DeploymentReportPublic)
def get_deployment_report(deployment_id: UUID, report_id: UUID, actor: PrincipalDep,
                          app: DispatchDep) -> DeploymentReportPublic:
    return deployment_report_public(app, app.get_deployment(actor, deployment_id), report_id)


def deployment_report_public(app: DispatchApplication, d: Deployment, report_id: UUID) -> DeploymentReportPublic:
    e = app.created_event(d.id, report_id, events.DeploymentActivityReported, "report_id")
    if e is None:
        raise DeploymentNotFound(f"no activity report {report_id} of this deployment")
    return DeploymentReportPublic(report_id=report_id, deployment_id=d.id, supporter_id=e.supporter_id,
                                  reported_on=e.reported_on, activity_date=e.activity_date, starts_at=e.starts_at,
                                  ends_at=e.ends_at, participants=e.participants, deployment_version=d.version)


@router.post("/deployments/{deployment_id}/end", response_model=DeploymentPublic)
def end_deployment(deployment_id: UUID, body: DeploymentEndCreate, actor: PrincipalDep, app: DispatchDep,
                   response: Response) -> DeploymentPublic:
    return _out(app.end_deployment(actor, deployment_id, reason=body.reason, ended_on=body.on), response)
