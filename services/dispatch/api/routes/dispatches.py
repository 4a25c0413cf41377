"""/v1/dispatches: request → assignment → consents → plan → start → reports → end."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, Query, Response

from libs.platform.store.application import new_id
from libs.platform.privacy.receipts import consent_receipt
from libs.platform.privacy.records import consents_of
from libs.platform.web.inputs import Cursor
from libs.platform.web.deps import IdempotencyKey, IfMatch, PrincipalDep, RuntimeDep, expected_version
from services.dispatch.api.deps import DispatchDep
from services.dispatch.api.schemas import (
    AcceptanceCreate,
    ActivityReportCreate,
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
    PlanCreate,
    ReviewCreate,
    Status,
    SubjectConsentCreate,
    SuspensionCreate,
    TimelinePublic,
)
from services.dispatch.application import DispatchApplication
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.errors import ConsentMissing
from services.dispatch.queries import list_dispatches, supporter_dispatches

router = APIRouter(prefix="/v1", tags=["dispatches"])


def dispatch_public(d: Dispatch) -> DispatchPublic:
    return DispatchPublic(
        id=d.id, tenant=d.tenant, status=d.status, source=d.source, subject_ref=d.subject_ref,
        requested_by=d.requested_by,
        referring_centre_id=d.referring_centre_id, needs=d.needs,
        requested_on=d.requested_on, supporter_id=d.supporter_id, supporter_consented=d.supporter_consented,
        subject_consent_items=d.consent["items"] if d.consent else None, plan_agreed=d.plan_agreed,
        missing_for_start=d.missing_for_start() if d.status == "requested" else [],
        open_tasks=d.open_tasks(), end_reason=d.end_reason, version=d.version,
    )


def _out(d: Dispatch, response: Response) -> DispatchPublic:
    response.headers["ETag"] = f'"{d.version}"'
    return dispatch_public(d)


def _seal(app: DispatchApplication, d: Dispatch, value: dict) -> dict:
    """Seal text about the person under this dispatch's own key (erasable with the dispatch).
    Called inside a command, so only after the caller was found to may act on the dispatch."""
    return app.seal(d.id, value) or {}


def _seal_text(app: DispatchApplication, d: Dispatch, text: str | None) -> dict | None:
    return _seal(app, d, {"text": text}) if text else None


@router.post("/dispatches", status_code=201, response_model=DispatchPublic)
def request_dispatch(body: DispatchCreate, actor: PrincipalDep, app: DispatchDep, response: Response,
                     idempotency_key: IdempotencyKey = None) -> DispatchPublic:
    details = body.subject_details.model_dump(mode="json", exclude_none=True) if body.subject_details else None
    d, created = app.request_dispatch(actor, subject_ref=str(body.subject_ref) if body.subject_ref else None,
                                      requested_by=body.requested_by, needs=list(body.needs),
                                      preferences=body.preferences, requested_on=body.requested_on,
                                      details=details or None, idempotency_key=idempotency_key)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/dispatches/{d.id}"
    return _out(d, response)


@router.get("/dispatches", response_model=DispatchesPublic)
def get_dispatches(actor: PrincipalDep, app: DispatchDep, runtime: RuntimeDep, status: Status | None = None,
                   cursor: Cursor = None, limit: int = Query(default=50, ge=1, le=500)) -> DispatchesPublic:
    tenant = app.officer_tenant(actor)
    runtime.catch_up()
    rows = list_dispatches(runtime.engine, tenant, status=status, after=cursor, limit=limit)
    return DispatchesPublic(data=rows, next_cursor=rows[-1]["dispatch_id"] if len(rows) == limit else None)


@router.get("/my/dispatches", response_model=DispatchesPublic)
def get_my_dispatches(actor: PrincipalDep, runtime: RuntimeDep) -> DispatchesPublic:
    """A supporter's own assignments."""
    actor.require("supporter")
    runtime.catch_up()
    return DispatchesPublic(data=supporter_dispatches(runtime.engine, actor.sub), next_cursor=None)


@router.get("/dispatches/{dispatch_id}", response_model=DispatchPublic)
def get_dispatch(dispatch_id: UUID, actor: PrincipalDep, app: DispatchDep, response: Response) -> DispatchPublic:
    return _out(app.get_dispatch(actor, dispatch_id), response)


@router.get("/dispatches/{dispatch_id}/timeline", response_model=TimelinePublic)
def get_timeline(dispatch_id: UUID, actor: PrincipalDep, app: DispatchDep) -> TimelinePublic:
    """Every event of the dispatch, sealed fields left sealed."""
    app.get_dispatch(actor, dispatch_id)
    app.officer_tenant(actor)
    return TimelinePublic(dispatch_id=dispatch_id, events=[
        {"version": e["sequence"], "type": e["type"], "time": e["time"], "data": e["data"]}
        for e in app.history(dispatch_id)])


@router.post("/dispatches/{dispatch_id}/subject-details", response_model=DispatchPublic)
def record_subject_details(dispatch_id: UUID, body: DetailsCreate, actor: PrincipalDep, app: DispatchDep,
                           response: Response, if_match: IfMatch = None) -> DispatchPublic:
    details = body.details.model_dump(mode="json", exclude_none=True)
    d = app.act(actor, dispatch_id, expected_version(if_match),
                lambda d: d.record_subject_details(details=_seal(app, d, details)))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/corrections", response_model=DispatchPublic)
def correct_subject_details(dispatch_id: UUID, body: CorrectionCreate, actor: PrincipalDep, app: DispatchDep,
                            response: Response) -> DispatchPublic:
    """訂正 of the person's details, also after the dispatch ended (until they are erased)."""
    details = body.details.model_dump(mode="json", exclude_none=True)
    d = app.act(actor, dispatch_id, None,
                lambda d: d.correct_subject_details(details=_seal(app, d, details), corrected_on=body.on))
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
    d = app.act(actor, dispatch_id, expected_version(if_match), lambda d: d.record_subject_consent(
        consent_id=uuid4(), given_by=body.given_by, items=list(body.items), support_meetings=body.support_meetings,
        costs_self_paid=body.costs_self_paid, signed_on=body.signed_on))
    return _out(d, response)


@router.get("/dispatches/{dispatch_id}/consent-receipt")
def subject_consent_receipt(dispatch_id: UUID, actor: PrincipalDep, app: DispatchDep, runtime: RuntimeDep) -> dict:
    """The signed receipt of the person's consent (資料7), for the municipality to hand over."""
    d = app.get_dispatch(actor, dispatch_id)
    app.officer_tenant(actor)
    runtime.catch_up()
    record = next((c for c in consents_of(runtime.engine, d.subject_ref, None)
                   if c["aggregate_id"] == str(d.id)), None)
    if record is None:
        raise ConsentMissing("the person has not consented on this dispatch")
    return consent_receipt(runtime.audit, consent_id=record["consent_id"], subject=d.subject_ref,
                           given_at=record["given_at"], withdrawn_at=record["withdrawn_at"],
                           record=record["data"]["record"], tenant=d.tenant,
                           recipients=[str(d.supporter_id)] if d.supporter_id else [])


@router.post("/dispatches/{dispatch_id}/supporter-acceptance", response_model=DispatchPublic)
def accept_dispatch(dispatch_id: UUID, body: AcceptanceCreate, actor: PrincipalDep, app: DispatchDep,
                    response: Response, if_match: IfMatch = None) -> DispatchPublic:
    d = app.act(actor, dispatch_id, expected_version(if_match), lambda d: d.accept_as_supporter(
        supporter_id=UUID(actor.sub), accepted_on=body.accepted_on), by_supporter=True)
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/plan", response_model=DispatchPublic)
def agree_plan(dispatch_id: UUID, body: PlanCreate, actor: PrincipalDep, app: DispatchDep, response: Response,
               if_match: IfMatch = None) -> DispatchPublic:
    plan = body.model_dump(mode="json", include={"purpose", "activity_plan", "content"})
    d = app.act(actor, dispatch_id, expected_version(if_match), lambda d: d.agree_plan(
        activities=list(body.activities), plan=_seal(app, d, plan), agreed_on=body.agreed_on))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/start", response_model=DispatchPublic)
def start_dispatch(dispatch_id: UUID, body: DatedCreate, actor: PrincipalDep, app: DispatchDep,
                   response: Response, if_match: IfMatch = None) -> DispatchPublic:
    return _out(app.start(actor, dispatch_id, started_on=body.on, expected_version=expected_version(if_match)), response)


@router.get("/dispatches/{dispatch_id}/subject", response_model=Disclosure)
def read_subject_details(dispatch_id: UUID, actor: PrincipalDep, app: DispatchDep) -> Disclosure:
    """For the assigned supporter: the consented items only; each read is a recorded disclosure."""
    d, details = app.disclose(actor, dispatch_id)
    return Disclosure(dispatch_id=d.id, items=d.consent["items"], details=details)


@router.post("/dispatches/{dispatch_id}/activity-reports", status_code=201, response_model=DispatchPublic)
def report_activity(dispatch_id: UUID, body: ActivityReportCreate, actor: PrincipalDep, app: DispatchDep,
                    response: Response, idempotency_key: IdempotencyKey = None) -> DispatchPublic:
    narrative = body.model_dump(mode="json", include={
        "place", "content", "record", "next_appointment", "plan_with_officer", "note"}, exclude_none=True)
    report_id = new_id("activity-report", str(dispatch_id), idempotency_key)
    d = app.act(actor, dispatch_id, None, lambda d: d.report_activity(
        report_id=report_id, supporter_id=UUID(actor.sub), reported_on=body.reported_on,
        activity_date=body.activity_date, starts_at=body.starts_at, ends_at=body.ends_at,
        activity_type=body.activity_type, activity_type_other=_seal_text(app, d, body.activity_type_other),
        next_step=body.next_step, next_step_other=_seal_text(app, d, body.next_step_other),
        narrative=_seal(app, d, narrative)), by_supporter=True)
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/activity-reports/{report_id}/review", response_model=DispatchPublic)
def review_report(dispatch_id: UUID, report_id: UUID, body: ReviewCreate, actor: PrincipalDep, app: DispatchDep,
                  response: Response) -> DispatchPublic:
    d = app.act(actor, dispatch_id, None, lambda d: d.review_report(report_id=report_id, reviewed_on=body.reviewed_on))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/guidance", response_model=DispatchPublic)
def give_guidance(dispatch_id: UUID, body: GuidanceCreate, actor: PrincipalDep, app: DispatchDep,
                  response: Response) -> DispatchPublic:
    d = app.act(actor, dispatch_id, None, lambda d: d.give_guidance(
        given_by=body.given_by, given_on=body.given_on, guidance=_seal(app, d, {"guidance": body.guidance})))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/incidents", status_code=201, response_model=DispatchPublic)
def report_incident(dispatch_id: UUID, body: IncidentCreate, actor: PrincipalDep, app: DispatchDep,
                    response: Response) -> DispatchPublic:
    account = body.model_dump(mode="json", include={"description", "follow_up"})
    d = app.act(actor, dispatch_id, None, lambda d: d.report_incident(
        incident_id=uuid4(), occurred_on=body.occurred_on, severity=body.severity, account=_seal(app, d, account)),
        by_supporter=actor.has("supporter") and not actor.has("municipal_officer"))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/suspension", response_model=DispatchPublic)
def suspend_dispatch(dispatch_id: UUID, body: SuspensionCreate, actor: PrincipalDep, app: DispatchDep,
                     response: Response, if_match: IfMatch = None) -> DispatchPublic:
    d = app.act(actor, dispatch_id, expected_version(if_match),
                lambda d: d.suspend(reason=body.reason, suspended_on=body.on,
                                    note=_seal_text(app, d, body.note)))
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
    d = app.act(actor, dispatch_id, None, lambda d: d.end(reason="subject_requested_stop", ended_on=body.on))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/subject-consent-withdrawal", response_model=DispatchPublic)
def withdraw_subject_consent(dispatch_id: UUID, body: DatedCreate, actor: PrincipalDep, app: DispatchDep,
                             response: Response) -> DispatchPublic:
    d = app.act(actor, dispatch_id, None, lambda d: d.withdraw_subject_consent(withdrawn_on=body.on))
    return _out(d, response)


@router.post("/dispatches/{dispatch_id}/erasure", response_model=DispatchPublic)
def erase_subject_data(dispatch_id: UUID, body: ErasureCreate, actor: PrincipalDep, app: DispatchDep,
                       response: Response) -> DispatchPublic:
    """After the end: destroy the person's key held by the municipality (the record remains)."""
    return _out(app.erase_subject(actor, dispatch_id, erased_on=body.on, basis=body.basis), response)


@router.post("/dispatches/{dispatch_id}/end", response_model=DispatchPublic)
def end_dispatch(dispatch_id: UUID, body: EndCreate, actor: PrincipalDep, app: DispatchDep, response: Response,
                 if_match: IfMatch = None) -> DispatchPublic:
    d = app.act(actor, dispatch_id, expected_version(if_match), lambda d: d.end(reason=body.reason, ended_on=body.on))
    return _out(d, response)
