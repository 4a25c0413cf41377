"""/v1/cases/{case_id}/…: what a case's staff record beside consultations and referrals — outreach
visits, disclosures to agencies, support meetings and supporter requests — each a resource of its
own, created once per Idempotency-Key (libs/platform/store/creations.py)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from libs.domain import intake as events
from libs.platform.web.deps import IdempotencyKey, IfMatch, PrincipalDep, expected_version
from libs.platform.web.routing import OneHopRoute
from services.intake.api.deps import IntakeDep
from services.intake.api.routes.cases import created_in_case, stated_basis
from services.intake.api.schemas import (
    DisclosurePublic,
    MeetingCreate,
    MeetingPublic,
    OutreachCreate,
    OutreachVisitPublic,
    ShareCreate,
    SupporterRequestCreate,
    SupporterRequestPublic,
)
from services.intake.application import IntakeApplication
from services.intake.domain.case import Case
from services.intake.domain.errors import CaseNotFound

router = APIRouter(route_class=OneHopRoute, prefix="/v1/cases", tags=["cases"])


@router.post("/{case_id}/outreach-visits", status_code=201, response_model=OutreachVisitPublic)
def record_outreach_visit(case_id: UUID, body: OutreachCreate, actor: PrincipalDep, intake: IntakeDep,
                          response: Response, idempotency_key: IdempotencyKey = None,
                          if_match: IfMatch = None) -> OutreachVisitPublic:
    """訪問支援 by a coordinator, a 訪問相談支援員 or a 市町村等支援員."""
    made = intake.record_outreach_visit(actor, case_id, expected_version=expected_version(if_match),
                                        staff_role=body.staff_role, occurred_at=body.occurred_at,
                                        summary=body.summary, idempotency_key=idempotency_key)
    created_in_case(response, made.aggregate, made.created, f"/v1/cases/{case_id}/outreach-visits/{made.resource_id}")
    if made.created:  # what was just recorded is what was sent: not read back and opened (three round trips)
        return OutreachVisitPublic(visit_id=made.resource_id, case_id=case_id, staff_role=body.staff_role,
                                   occurred_at=body.occurred_at, summary=body.summary or None,
                                   case_version=made.aggregate.version)
    return outreach_visit_public(intake, made.aggregate, made.resource_id)


@router.get("/{case_id}/outreach-visits/{visit_id}", response_model=OutreachVisitPublic)
def get_outreach_visit(case_id: UUID, visit_id: UUID, actor: PrincipalDep, intake: IntakeDep,
                       response: Response) -> OutreachVisitPublic:
    case = intake.get_case(actor, case_id)
    response.headers["ETag"] = f'"{case.version}"'
    return outreach_visit_public(intake, case, visit_id)


def outreach_visit_public(intake: IntakeApplication, case: Case, visit_id: UUID) -> OutreachVisitPublic:
    e = _created_event(intake, case, visit_id, events.OutreachVisitRecorded, "visit_id", "outreach visit")
    return OutreachVisitPublic(visit_id=visit_id, case_id=case.id, staff_role=e.staff_role, occurred_at=e.occurred_at,
                               summary=intake.sealer.open(e.summary), case_version=case.version)


def _created_event(intake: IntakeApplication, case: Case, resource_id: UUID, cls: type, field: str, what: str) -> Any:
    e = intake.created_event(case.id, resource_id, cls, field)
    if e is None:
        raise CaseNotFound(f"no {what} {resource_id} on this case")
    return e


@router.post("/{case_id}/disclosures", status_code=201, response_model=DisclosurePublic)
def share_with_agency(case_id: UUID, body: ShareCreate, actor: PrincipalDep, intake: IntakeDep,
                      response: Response, idempotency_key: IdempotencyKey = None) -> DisclosurePublic:
    """Give case information to an agency: refused without a current consent naming it, unless a
    legal basis (APPI 第27条第1項) is stated with its justification."""
    made = intake.share_with_agency(actor, case_id, agency_id=body.agency_id, items=list(body.items), on=body.on,
                                    purpose=body.purpose, legal_basis=stated_basis(body.legal_basis),
                                    idempotency_key=idempotency_key)
    created_in_case(response, made.aggregate, made.created, f"/v1/cases/{case_id}/disclosures/{made.resource_id}")
    return disclosure_public(intake, made.aggregate, made.resource_id)


@router.get("/{case_id}/disclosures/{disclosure_id}", response_model=DisclosurePublic)
def get_disclosure(case_id: UUID, disclosure_id: UUID, actor: PrincipalDep, intake: IntakeDep,
                   response: Response) -> DisclosurePublic:
    case = intake.get_case(actor, case_id)
    response.headers["ETag"] = f'"{case.version}"'
    return disclosure_public(intake, case, disclosure_id)


def disclosure_public(intake: IntakeApplication, case: Case, disclosure_id: UUID) -> DisclosurePublic:
    e = _created_event(intake, case, disclosure_id, events.CaseInfoDisclosed, "disclosure_id", "disclosure")
    return DisclosurePublic(disclosure_id=disclosure_id, case_id=case.id, agency_id=e.recipient_agency_id,
                            items=e.items, disclosed_on=e.disclosed_on, purpose=e.purpose, consent_id=e.consent_id,
                            legal_basis=e.legal_basis, case_version=case.version)


@router.post("/{case_id}/meetings", status_code=201, response_model=MeetingPublic)
def hold_support_meeting(case_id: UUID, body: MeetingCreate, actor: PrincipalDep, intake: IntakeDep,
                         response: Response, idempotency_key: IdempotencyKey = None) -> MeetingPublic:
    """支援会議 on the case."""
    made = intake.hold_support_meeting(actor, case_id, held_on=body.held_on, agency_ids=body.agency_ids,
                                       note=body.note, idempotency_key=idempotency_key)
    created_in_case(response, made.aggregate, made.created, f"/v1/cases/{case_id}/meetings/{made.resource_id}")
    return meeting_public(intake, made.aggregate, made.resource_id)


@router.get("/{case_id}/meetings/{meeting_id}", response_model=MeetingPublic)
def get_support_meeting(case_id: UUID, meeting_id: UUID, actor: PrincipalDep, intake: IntakeDep,
                        response: Response) -> MeetingPublic:
    case = intake.get_case(actor, case_id)
    response.headers["ETag"] = f'"{case.version}"'
    return meeting_public(intake, case, meeting_id)


def meeting_public(intake: IntakeApplication, case: Case, meeting_id: UUID) -> MeetingPublic:
    e = _created_event(intake, case, meeting_id, events.SupportMeetingHeld, "meeting_id", "meeting")
    return MeetingPublic(meeting_id=meeting_id, case_id=case.id, held_on=e.held_on, agency_ids=e.agency_ids,
                         note=intake.sealer.open(e.note), case_version=case.version)


@router.post("/{case_id}/supporter-requests", status_code=201, response_model=SupporterRequestPublic)
def request_supporter(case_id: UUID, body: SupporterRequestCreate, actor: PrincipalDep, intake: IntakeDep,
                      response: Response, idempotency_key: IdempotencyKey = None) -> SupporterRequestPublic:
    made = intake.request_supporter(
        actor, case_id, municipality=body.municipality, needs=list(body.needs),
        preferences=dict(body.preferences.items()), requested_on=body.requested_on, requested_by=body.requested_by,
        idempotency_key=idempotency_key)
    created_in_case(response, made.aggregate, made.created,
                    f"/v1/cases/{case_id}/supporter-requests/{made.resource_id}")
    return supporter_request_public(made.aggregate, made.resource_id)


@router.get("/{case_id}/supporter-requests/{request_id}", response_model=SupporterRequestPublic)
def get_supporter_request(case_id: UUID, request_id: UUID, actor: PrincipalDep, intake: IntakeDep,
                          response: Response) -> SupporterRequestPublic:
    case = intake.get_case(actor, case_id)
    if str(request_id) not in case.supporter_requests:
        raise CaseNotFound(f"no supporter request {request_id} on this case")
    response.headers["ETag"] = f'"{case.version}"'
    return supporter_request_public(case, request_id)


def supporter_request_public(case: Case, request_id: UUID) -> SupporterRequestPublic:
    return SupporterRequestPublic(request_id=request_id, case_id=case.id,
                                  municipality=case.supporter_requests[str(request_id)], case_version=case.version)
