"""/v1/dispatches: request → assignment → consents → plan → start → reports → end."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from libs.domain import dispatch as events
from libs.platform.web.created import answer_created
from libs.platform.web.deps import IdempotencyKey, IfMatch, PrincipalDep, expected_version
from libs.platform.web.inputs import Cursor
from libs.platform.web.routing import OneHopRoute
from services.dispatch.api.deps import DispatchDep
from services.dispatch.api.schemas import (
    AcceptanceCreate,
    ActivityReportCreate,
    ActivityReportPublic,
    AssignmentCreate,
    CorrectionCreate,
    DatedCreate,
    DetailsCreate,
    Disclosure,
    DispatchCreate,
    DispatchesPublic,
    DispatchPublic,
    EndCreate,
    ErasureCreate,
    GuidanceCreate,
    IncidentCreate,
    IncidentPublic,
    PlanCreate,
    ReviewCreate,
    Status,
    SubjectConsentCreate,
    SuspensionCreate,
    TimelinePublic,
)
from services.dispatch.application import DispatchApplication
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.errors import DispatchNotFound

router = APIRouter(route_class=OneHopRoute, prefix="/v1", tags=["dispatches"])


def dispatch_public(d: Dispatch) -> DispatchPublic:
    # Validated, not constructed: the aggregate keeps its status as a plain str, the schema as a Literal.
    return DispatchPublic.model_validate({
        "id": d.id, "tenant": d.tenant, "status": d.status, "source": d.source, "subject_ref": d.subject_ref,
        "requested_by": d.requested_by,
        "referring_centre_id": d.referring_centre_id, "needs": d.needs,
        "requested_on": d.requested_on, "supporter_id": d.supporter_id,
        "supporter_consented": d.supporter_consented,
        "subject_consent_items": d.consent["items"] if d.consent else None, "plan_agreed": d.plan_agreed,
        "missing_for_start": d.missing_for_start() if d.status == "requested" else [],
        "open_tasks": d.open_tasks(), "end_reason": d.end_reason, "erased": d.erased,
        "erasure_at_source": d.erasure_at_source, "version": d.version,
    })


def _out(d: Dispatch, response: Response) -> DispatchPublic:
    response.headers["ETag"] = f'"{d.version}"'
    return dispatch_public(d)


@router.post("/dispatches", status_code=201, response_model=DispatchPublic)
def request_dispatch(body: DispatchCreate, actor: PrincipalDep, app: DispatchDep, response: Response,
                     idempotency_key: IdempotencyKey = None) -> DispatchPublic:
    details = body.subject_details.model_dump(mode="json", exclude_none=True) if body.subject_details else None
    d, created = app.request_dispatch(actor, subject_ref=str(body.subject_ref) if body.subject_ref else None,
                                      requested_by=body.requested_by, needs=list(body.needs),
                                      preferences=body.preferences, requested_on=body.requested_on,
                                      details=details or None, idempotency_key=idempotency_key)
    answer_created(response, created=created, location=f"/v1/dispatches/{d.id}")
    return _out(d, response)


@router.get("/dispatches", response_model=DispatchesPublic)
def get_dispatches(actor: PrincipalDep, app: DispatchDep, status: Status | None = None,
                   cursor: Cursor = None, limit: int = Query(default=50, ge=1, le=500)) -> DispatchesPublic:
    rows = app.list_dispatches(actor, status=status, after=cursor, limit=limit)
    return DispatchesPublic.model_validate(
        {"data": rows, "next_cursor": rows[-1]["dispatch_id"] if len(rows) == limit else None})


@router.get("/my/dispatches", response_model=DispatchesPublic)
def get_my_dispatches(actor: PrincipalDep, app: DispatchDep) -> DispatchesPublic:
    """A supporter's own assignments."""
    return DispatchesPublic.model_validate({"data": app.my_dispatches(actor), "next_cursor": None})


@router.get("/dispatches/{dispatch_id}", response_model=DispatchPublic)
def get_dispatch(dispatch_id: UUID, actor: PrincipalDep, app: DispatchDep, response: Response) -> DispatchPublic:
    return _out(app.get_dispatch(actor, dispatch_id), response)


@router.get("/dispatches/{dispatch_id}/timeline", response_model=TimelinePublic)
def get_timeline(dispatch_id: UUID, actor: PrincipalDep, app: DispatchDep) -> TimelinePublic:
    """Every event of the dispatch, sealed fields left sealed."""
    return TimelinePublic.model_validate({"dispatch_id": dispatch_id, "events": [
        {"version": e["sequence"], "type": e["type"], "time": e["time"], "data": e["data"]}
        for e in app.timeline(actor, dispatch_id)]})


@router.post("/dispatches/{dispatch_id}/subject-details", response_model=DispatchPublic)
def record_subject_details(dispatch_id: UUID, body: DetailsCreate, actor: PrincipalDep, app: DispatchDep,
                           response: Response, if_match: IfMatch = None) -> DispatchPublic:
    d = app.record_subject_details(actor, dispatch_id, details=body.details.model_dump(mode="json", exclude_none=True),
                                   expected_version=expected_version(if_match))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/corrections", response_model=DispatchPublic)
def correct_subject_details(dispatch_id: UUID, body: CorrectionCreate, actor: PrincipalDep, app: DispatchDep,
                            response: Response) -> DispatchPublic:
    """訂正 of the person's details, also after the dispatch ended (until they are erased)."""
    d = app.correct_subject_details(actor, dispatch_id, details=body.details.model_dump(mode="json", exclude_none=True),
                                    corrected_on=body.on)
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/assignment", response_model=DispatchPublic)
def assign_supporter(dispatch_id: UUID, body: AssignmentCreate, actor: PrincipalDep, app: DispatchDep,
                     response: Response, if_match: IfMatch = None) -> DispatchPublic:
    d = app.assign(actor, dispatch_id, supporter_id=body.supporter_id, assigned_on=body.assigned_on,
                   expected_version=expected_version(if_match))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/subject-consent", response_model=DispatchPublic)
def record_subject_consent(dispatch_id: UUID, body: SubjectConsentCreate, actor: PrincipalDep, app: DispatchDep,
                           response: Response, if_match: IfMatch = None) -> DispatchPublic:
    d = app.record_subject_consent(actor, dispatch_id, given_by=body.given_by, items=list(body.items),
                                   support_meetings=body.support_meetings, costs_self_paid=body.costs_self_paid,
                                   signed_on=body.signed_on, expected_version=expected_version(if_match))
    return _out(d, response)


@router.get("/dispatches/{dispatch_id}/consent-receipt")
def subject_consent_receipt(dispatch_id: UUID, actor: PrincipalDep, app: DispatchDep) -> dict:
    """The signed receipt of the person's consent (資料7), for the municipality to hand over."""
    return app.subject_consent_receipt(actor, dispatch_id)


@router.post("/dispatches/{dispatch_id}/supporter-acceptance", response_model=DispatchPublic)
def accept_dispatch(dispatch_id: UUID, body: AcceptanceCreate, actor: PrincipalDep, app: DispatchDep,
                    response: Response, if_match: IfMatch = None) -> DispatchPublic:
    d = app.accept_dispatch(actor, dispatch_id, accepted_on=body.accepted_on,
                            expected_version=expected_version(if_match))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/plan", response_model=DispatchPublic)
def agree_plan(dispatch_id: UUID, body: PlanCreate, actor: PrincipalDep, app: DispatchDep, response: Response,
               if_match: IfMatch = None) -> DispatchPublic:
    d = app.agree_plan(actor, dispatch_id, activities=list(body.activities),
                       plan=body.model_dump(mode="json", include={"purpose", "activity_plan", "content"}),
                       agreed_on=body.agreed_on, expected_version=expected_version(if_match))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/start", response_model=DispatchPublic)
def start_dispatch(dispatch_id: UUID, body: DatedCreate, actor: PrincipalDep, app: DispatchDep,
                   response: Response, if_match: IfMatch = None) -> DispatchPublic:
    return _out(app.start(actor, dispatch_id, started_on=body.on, expected_version=expected_version(if_match)),
                response)


@router.get("/dispatches/{dispatch_id}/subject", response_model=Disclosure)
def read_subject_details(dispatch_id: UUID, actor: PrincipalDep, app: DispatchDep) -> Disclosure:
    """For the assigned supporter: the consented items only; each read is a recorded disclosure."""
    d, details = app.disclose(actor, dispatch_id)
    assert d.consent is not None  # disclose() refuses a dispatch without the person's consent
    return Disclosure(dispatch_id=d.id, items=d.consent["items"], details=details)


@router.post("/dispatches/{dispatch_id}/activity-reports", status_code=201, response_model=ActivityReportPublic)
def report_activity(dispatch_id: UUID, body: ActivityReportCreate, actor: PrincipalDep, app: DispatchDep,
                    response: Response, idempotency_key: IdempotencyKey = None) -> ActivityReportPublic:
    narrative = body.model_dump(mode="json", include={
        "place", "content", "record", "next_appointment", "plan_with_officer", "note"}, exclude_none=True)
    made = app.report_activity(
        actor, dispatch_id, idempotency_key=idempotency_key, reported_on=body.reported_on,
        activity_date=body.activity_date, starts_at=body.starts_at, ends_at=body.ends_at,
        activity_type=body.activity_type, activity_type_other=body.activity_type_other,
        next_step=body.next_step, next_step_other=body.next_step_other, narrative=narrative)
    answer_created(response, created=made.created, version=made.aggregate.version,
                   location=f"/v1/dispatches/{dispatch_id}/activity-reports/{made.resource_id}")
    return activity_report_public(app, made.aggregate, made.resource_id)


@router.get("/dispatches/{dispatch_id}/activity-reports/{report_id}", response_model=ActivityReportPublic)
def get_activity_report(dispatch_id: UUID, report_id: UUID, actor: PrincipalDep,
                        app: DispatchDep) -> ActivityReportPublic:
    return activity_report_public(app, app.get_dispatch_activity(actor, dispatch_id), report_id)


def activity_report_public(app: DispatchApplication, d: Dispatch, report_id: UUID) -> ActivityReportPublic:
    e = app.created_event(d.id, report_id, events.ActivityReported, "report_id")
    if e is None:
        raise DispatchNotFound(f"no activity report {report_id} of this dispatch")
    return ActivityReportPublic(report_id=report_id, dispatch_id=d.id, supporter_id=e.supporter_id,
                                reported_on=e.reported_on, activity_date=e.activity_date, starts_at=e.starts_at,
                                ends_at=e.ends_at, activity_type=e.activity_type, next_step=e.next_step,
                                dispatch_version=d.version)


@router.post("/dispatches/{dispatch_id}/activity-reports/{report_id}/review", response_model=DispatchPublic)
def review_report(dispatch_id: UUID, report_id: UUID, body: ReviewCreate, actor: PrincipalDep, app: DispatchDep,
                  response: Response) -> DispatchPublic:
    return _out(app.review_report(actor, dispatch_id, report_id=report_id, reviewed_on=body.reviewed_on), response)


@router.post("/dispatches/{dispatch_id}/guidance", response_model=DispatchPublic)
def give_guidance(dispatch_id: UUID, body: GuidanceCreate, actor: PrincipalDep, app: DispatchDep,
                  response: Response) -> DispatchPublic:
    d = app.give_guidance(actor, dispatch_id, given_by=body.given_by, given_on=body.given_on, guidance=body.guidance)
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/incidents", status_code=201, response_model=IncidentPublic)
def report_incident(dispatch_id: UUID, body: IncidentCreate, actor: PrincipalDep, app: DispatchDep,
                    response: Response, idempotency_key: IdempotencyKey = None) -> IncidentPublic:
    made = app.report_incident(actor, dispatch_id, occurred_on=body.occurred_on, severity=body.severity,
                               account=body.model_dump(mode="json", include={"description", "follow_up"}),
                               idempotency_key=idempotency_key)
    answer_created(response, created=made.created, version=made.aggregate.version,
                   location=f"/v1/dispatches/{dispatch_id}/incidents/{made.resource_id}")
    return incident_public(app, made.aggregate, made.resource_id)


@router.get("/dispatches/{dispatch_id}/incidents/{incident_id}", response_model=IncidentPublic)
def get_incident(dispatch_id: UUID, incident_id: UUID, actor: PrincipalDep, app: DispatchDep) -> IncidentPublic:
    return incident_public(app, app.get_dispatch_activity(actor, dispatch_id), incident_id)


def incident_public(app: DispatchApplication, d: Dispatch, incident_id: UUID) -> IncidentPublic:
    e = app.created_event(d.id, incident_id, events.IncidentReported, "incident_id")
    if e is None:
        raise DispatchNotFound(f"no incident {incident_id} of this dispatch")
    return IncidentPublic(incident_id=incident_id, dispatch_id=d.id, occurred_on=e.occurred_on, severity=e.severity,
                          dispatch_version=d.version)


@router.post("/dispatches/{dispatch_id}/suspension", response_model=DispatchPublic)
def suspend_dispatch(dispatch_id: UUID, body: SuspensionCreate, actor: PrincipalDep, app: DispatchDep,
                     response: Response, if_match: IfMatch = None) -> DispatchPublic:
    d = app.suspend(actor, dispatch_id, reason=body.reason, suspended_on=body.on, note=body.note,
                    expected_version=expected_version(if_match))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/resumption", response_model=DispatchPublic)
def resume_dispatch(dispatch_id: UUID, body: DatedCreate, actor: PrincipalDep, app: DispatchDep,
                    response: Response, if_match: IfMatch = None) -> DispatchPublic:
    return _out(app.resume(actor, dispatch_id, resumed_on=body.on, expected_version=expected_version(if_match)),
                response)


@router.post("/dispatches/{dispatch_id}/stop-request", response_model=DispatchPublic)
def stop_on_request(dispatch_id: UUID, body: DatedCreate, actor: PrincipalDep, app: DispatchDep,
                    response: Response) -> DispatchPublic:
    """The person asked to stop: the dispatch ends at once, no approval step (no If-Match either)."""
    return _out(app.stop_on_request(actor, dispatch_id, stopped_on=body.on), response)


@router.post("/dispatches/{dispatch_id}/subject-consent-withdrawal", response_model=DispatchPublic)
def withdraw_subject_consent(dispatch_id: UUID, body: DatedCreate, actor: PrincipalDep, app: DispatchDep,
                             response: Response) -> DispatchPublic:
    return _out(app.withdraw_subject_consent(actor, dispatch_id, withdrawn_on=body.on), response)


@router.post("/dispatches/{dispatch_id}/erasure", response_model=DispatchPublic)
def erase_subject_data(dispatch_id: UUID, body: ErasureCreate, actor: PrincipalDep, app: DispatchDep,
                       response: Response) -> DispatchPublic:
    """After the end: destroy the person's key held by the municipality (the record remains)."""
    return _out(app.erase_subject(actor, dispatch_id, erased_on=body.on, basis=body.basis), response)


@router.post("/dispatches/{dispatch_id}/end", response_model=DispatchPublic)
def end_dispatch(dispatch_id: UUID, body: EndCreate, actor: PrincipalDep, app: DispatchDep, response: Response,
                 if_match: IfMatch = None) -> DispatchPublic:
    d = app.end_dispatch(actor, dispatch_id, reason=body.reason, ended_on=body.on,
                         expected_version=expected_version(if_match))
    return _out(d, response)
