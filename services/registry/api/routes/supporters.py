"""/v1/registrations and /v1/supporters: application with consent, decision, life cycle, reads."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from libs.platform.web.deps import IdempotencyKey, IfMatch, PrincipalDep, expected_version
from libs.platform.web.inputs import Cursor, Day
from libs.platform.web.routing import OneHopRoute
from services.registry.api.deps import RegistryDep
from services.registry.api.schemas import (
    ApprovalCreate,
    ConsentForm,
    ConsentWithdrawalCreate,
    DatedCreate,
    DetailsChange,
    ErasureCreate,
    HistoryEvent,
    HistoryPublic,
    InquiryCreate,
    RefusalCreate,
    RegistrationCard,
    RegistrationCreate,
    RenewalCreate,
    RevocationCreate,
    ScreeningCreate,
    Status,
    SupporterPublic,
    SupportersPublic,
    WithdrawalCreate,
)
from services.registry.application import RegistryApplication
from services.registry.domain.supporter import Supporter

router = APIRouter(route_class=OneHopRoute, prefix="/v1", tags=["supporters"])


def supporter_public(s: Supporter, details: dict | str | None) -> SupporterPublic:
    return SupporterPublic.model_validate({
        "id": s.id, "tenant": s.tenant, "status": s.status, "certificate_number": s.certificate_number,
        "registration_number": s.registration_number, "applied_on": s.applied_on,
        "term_starts_on": s.term_starts_on, "term_ends_on": s.term_ends_on, "consent_active": s.consent_active,
        "consent_text_version": s.consent_text_version, "continuing_trainings": len(s.continuing_trainings),
        "use_suspended": s.use_suspended, "details": details, "version": s.version,
    })


def _items(consent: ConsentForm) -> dict[str, bool]:
    return consent.model_dump(exclude={"consent_text_version", "signed_on"})


def _respond(app: RegistryApplication, supporter: Supporter, response: Response) -> SupporterPublic:
    response.headers["ETag"] = f'"{supporter.version}"'
    return supporter_public(supporter, app.details(supporter))


@router.post("/registrations", status_code=201, response_model=SupporterPublic)
def apply_for_registration(body: RegistrationCreate, actor: PrincipalDep, app: RegistryDep,
                           response: Response, idempotency_key: IdempotencyKey = None) -> SupporterPublic:
    supporter, created = app.apply_for_registration(
        actor, certificate_number=body.certificate_number, applied_on=body.applied_on,
        applicant=body.applicant.model_dump(mode="json", exclude_none=True), consent_items=_items(body.consent),
        consent_text_version=body.consent.consent_text_version, signed_on=body.consent.signed_on,
        idempotency_key=idempotency_key,
    )
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/supporters/{supporter.id}"
    return _respond(app, supporter, response)


@router.get("/supporters", response_model=SupportersPublic)
def search(actor: PrincipalDep, app: RegistryDep, status: Status | None = None,
           term_ends_before: Day | None = Query(default=None, description="e.g. who expires in the next 60 days"),
           cursor: Cursor = None, limit: int = Query(default=50, ge=1, le=500)) -> SupportersPublic:
    rows = app.search_supporters(actor, status=status, term_ends_before=term_ends_before, after=cursor, limit=limit)
    return SupportersPublic.model_validate(
        {"data": rows, "next_cursor": rows[-1]["supporter_id"] if len(rows) == limit else None})


@router.get("/supporters/{supporter_id}", response_model=SupporterPublic)
def get_supporter(supporter_id: UUID, actor: PrincipalDep, app: RegistryDep, response: Response) -> SupporterPublic:
    supporter, details = app.read_supporter(actor, supporter_id)
    response.headers["ETag"] = f'"{supporter.version}"'
    return supporter_public(supporter, details)


@router.get("/supporters/{supporter_id}/card", response_model=RegistrationCard)
def registration_card(supporter_id: UUID, actor: PrincipalDep, app: RegistryDep) -> RegistrationCard:
    """The 登録証 of a registered supporter, for the registrar to print and the supporter to carry."""
    s, printed = app.registration_card(actor, supporter_id)
    # registration_card gives only a registered supporter, who has a number and a term
    assert s.registration_number is not None and s.term_starts_on is not None and s.term_ends_on is not None
    return RegistrationCard(registrar=s.tenant, registration_number=s.registration_number,
                            term_starts_on=s.term_starts_on, term_ends_on=s.term_ends_on, **printed)


@router.get("/supporters/{supporter_id}/consent-receipt")
def consent_receipt_of_supporter(supporter_id: UUID, actor: PrincipalDep, app: RegistryDep) -> dict:
    """The signed receipt of the supporter's current (or last) 同意書 (資料4)."""
    return app.consent_receipt(actor, supporter_id)


@router.get("/supporters/{supporter_id}/history", response_model=HistoryPublic)
def supporter_history(supporter_id: UUID, actor: PrincipalDep, app: RegistryDep) -> HistoryPublic:
    """Every event of the supporter's record, sealed fields left sealed."""
    return HistoryPublic(supporter_id=supporter_id, events=[
        HistoryEvent(version=e["sequence"], type=e["type"], time=e["time"], data=e["data"])
        for e in app.supporter_history(actor, supporter_id)])


@router.post("/supporters/{supporter_id}/screenings", response_model=SupporterPublic)
def record_screening(supporter_id: UUID, body: ScreeningCreate, actor: PrincipalDep, app: RegistryDep,
                     response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.record_screening(actor, supporter_id, expected_version=expected_version(if_match),
                             kind=body.kind, held_on=body.held_on, note=body.note)
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/approval", response_model=SupporterPublic)
def approve_registration(supporter_id: UUID, body: ApprovalCreate, actor: PrincipalDep, app: RegistryDep,
                         response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.approve(actor, supporter_id, expected_version=expected_version(if_match),
                    issued_on=body.issued_on, term_years=body.term_years)
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/refusal", response_model=SupporterPublic)
def refuse_registration(supporter_id: UUID, body: RefusalCreate, actor: PrincipalDep, app: RegistryDep,
                        response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.refuse(actor, supporter_id, expected_version=expected_version(if_match),
                   refused_on=body.refused_on, reason=body.reason)
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/details-changes", response_model=SupporterPublic)
def change_details(supporter_id: UUID, body: DetailsChange, actor: PrincipalDep, app: RegistryDep,
                   response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.change_details(actor, supporter_id, expected_version=expected_version(if_match),
                           changes=body.model_dump(mode="json", exclude_none=True, exclude={"changed_on"}),
                           changed_on=body.changed_on)
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/renewals", response_model=SupporterPublic)
def renew_registration(supporter_id: UUID, body: RenewalCreate, actor: PrincipalDep, app: RegistryDep,
                       response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.renew(actor, supporter_id, expected_version=expected_version(if_match), issued_on=body.issued_on,
                  term_years=body.term_years, consent_items=_items(body.consent),
                  consent_text_version=body.consent.consent_text_version)
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/consent-withdrawal", response_model=SupporterPublic)
def withdraw_consent(supporter_id: UUID, body: ConsentWithdrawalCreate, actor: PrincipalDep, app: RegistryDep,
                     response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.withdraw_consent(actor, supporter_id, expected_version=expected_version(if_match),
                             withdrawn_on=body.withdrawn_on)
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/withdrawal", response_model=SupporterPublic)
def withdraw_registration(supporter_id: UUID, body: WithdrawalCreate, actor: PrincipalDep, app: RegistryDep,
                          response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.withdraw(actor, supporter_id, expected_version=expected_version(if_match),
                     withdrawn_on=body.withdrawn_on, reason=body.reason)
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/use-suspension", response_model=SupporterPublic)
def suspend_use(supporter_id: UUID, body: DatedCreate, actor: PrincipalDep, app: RegistryDep,
                response: Response) -> SupporterPublic:
    """利用停止 at the supporter's request: no roster provision of their data until resumed."""
    return _respond(app, app.suspend_use(actor, supporter_id, suspended_on=body.on), response)


@router.post("/supporters/{supporter_id}/use-resumption", response_model=SupporterPublic)
def resume_use(supporter_id: UUID, body: DatedCreate, actor: PrincipalDep, app: RegistryDep,
               response: Response) -> SupporterPublic:
    return _respond(app, app.resume_use(actor, supporter_id, resumed_on=body.on), response)


@router.post("/supporters/{supporter_id}/erasure", response_model=SupporterPublic)
def erase_supporter_data(supporter_id: UUID, body: ErasureCreate, actor: PrincipalDep, app: RegistryDep,
                         response: Response) -> SupporterPublic:
    """After the registration ended: destroy the supporter's key (the record and numbers remain)."""
    return _respond(app, app.erase_supporter(actor, supporter_id, erased_on=body.on, basis=body.basis), response)


@router.post("/supporters/{supporter_id}/revocation-inquiries", response_model=SupporterPublic)
def record_revocation_inquiry(supporter_id: UUID, body: InquiryCreate, actor: PrincipalDep, app: RegistryDep,
                              response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.record_revocation_inquiry(actor, supporter_id, expected_version=expected_version(if_match),
                                      kind=body.kind, held_on=body.held_on, findings=body.findings)
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/revocation", response_model=SupporterPublic)
def revoke_registration(supporter_id: UUID, body: RevocationCreate, actor: PrincipalDep, app: RegistryDep,
                        response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.revoke(actor, supporter_id, expected_version=expected_version(if_match),
                   revoked_on=body.revoked_on, grounds=body.grounds)
    return _respond(app, s, response)
