"""/v1/registrations and /v1/supporters: application with consent, decision, life cycle, reads."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from libs.platform.privacy.receipts import consent_receipt
from libs.platform.privacy.records import stored_consent_record
from libs.platform.web.inputs import Cursor, Day
from libs.platform.web.deps import IdempotencyKey, IfMatch, PrincipalDep, RuntimeDep, expected_version
from services.registry.api.deps import RegistryDep
from services.registry.api.schemas import (
    ApprovalCreate,
    ConsentForm,
    ConsentWithdrawalCreate,
    DatedCreate,
    DetailsChange,
    ErasureCreate,
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
from libs.platform.web.auth import NotAllowed, Principal
from services.registry.application import OFFICERS, RegistryApplication, details_of
from services.registry.domain.errors import WrongStatus
from services.registry.domain.supporter import Supporter
from services.registry.queries import search_supporters

router = APIRouter(prefix="/v1", tags=["supporters"])


def supporter_public(app: RegistryApplication, s: Supporter, actor: Principal | None = None) -> SupporterPublic:
    # Auditors see the record, not the person's details (those open only through auditor_pii).
    details = None if actor is not None and actor.has("auditor") and not actor.has(*OFFICERS, "supporter") \
        else details_of(app, s)
    return SupporterPublic(
        id=s.id, tenant=s.tenant, status=s.status, certificate_number=s.certificate_number,
        registration_number=s.registration_number, applied_on=s.applied_on, term_starts_on=s.term_starts_on,
        term_ends_on=s.term_ends_on, consent_active=s.consent_active, consent_text_version=s.consent_text_version,
        continuing_trainings=len(s.continuing_trainings), use_suspended=s.use_suspended, details=details,
        version=s.version,
    )


def _items(consent: ConsentForm) -> dict[str, bool]:
    return consent.model_dump(exclude={"consent_text_version", "signed_on"})


def _respond(app: RegistryApplication, supporter: Supporter, response: Response) -> SupporterPublic:
    response.headers["ETag"] = f'"{supporter.version}"'
    return supporter_public(app, supporter)


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
def search(actor: PrincipalDep, app: RegistryDep, runtime: RuntimeDep, status: Status | None = None,
           term_ends_before: Day | None = Query(default=None, description="e.g. who expires in the next 60 days"),
           cursor: Cursor = None, limit: int = Query(default=50, ge=1, le=500)) -> SupportersPublic:
    runtime.catch_up()
    rows = search_supporters(runtime.engine, app.officer_tenant(actor), status=status,
                             term_ends_before=term_ends_before, after=cursor, limit=limit)
    return SupportersPublic(data=rows, next_cursor=rows[-1]["supporter_id"] if len(rows) == limit else None)


@router.get("/supporters/{supporter_id}", response_model=SupporterPublic)
def get_supporter(supporter_id: UUID, actor: PrincipalDep, app: RegistryDep, response: Response) -> SupporterPublic:
    supporter = app.get_supporter(actor, supporter_id)
    response.headers["ETag"] = f'"{supporter.version}"'
    return supporter_public(app, supporter, actor)


@router.get("/supporters/{supporter_id}/card", response_model=RegistrationCard)
def registration_card(supporter_id: UUID, actor: PrincipalDep, app: RegistryDep) -> RegistrationCard:
    """The 登録証 of a registered supporter, for the registrar to print and the supporter to carry."""
    s = app.get_supporter(actor, supporter_id)
    if not actor.has(*OFFICERS, "supporter"):
        raise NotAllowed("the 登録証 is for the registrar and the supporter")
    if s.status != "registered":
        raise WrongStatus(f"no 登録証: the supporter is {s.status}", current_status=s.status)
    details = details_of(app, s)
    details = details if isinstance(details, dict) else {}
    return RegistrationCard(registrar=s.tenant, registration_number=s.registration_number,
                            term_starts_on=s.term_starts_on, term_ends_on=s.term_ends_on,
                            **{f: details.get(f) for f in ("furigana", "name", "birth_date", "gender",
                                                           "postal_code", "address", "phone")})


@router.get("/supporters/{supporter_id}/consent-receipt")
def consent_receipt_of_supporter(supporter_id: UUID, actor: PrincipalDep, app: RegistryDep, runtime: RuntimeDep) -> dict:
    """The signed receipt of the supporter's current (or last) 同意書 (資料4)."""
    s = app.get_supporter(actor, supporter_id)
    runtime.catch_up()
    record = stored_consent_record(runtime.engine, str(s.consent_id))
    return consent_receipt(runtime.audit, consent_id=str(s.consent_id), subject=str(s.id),
                           given_at=record["given_at"], withdrawn_at=record["withdrawn_at"],
                           record=record["data"]["record"], tenant=s.tenant)


@router.get("/supporters/{supporter_id}/history", response_model=HistoryPublic)
def supporter_history(supporter_id: UUID, actor: PrincipalDep, app: RegistryDep) -> HistoryPublic:
    """Every event of the supporter's record, sealed fields left sealed."""
    app.get_supporter(actor, supporter_id)
    return HistoryPublic(supporter_id=supporter_id, events=[
        {"version": e["sequence"], "type": e["type"], "time": e["time"], "data": e["data"]}
        for e in app.history(supporter_id)])


@router.post("/supporters/{supporter_id}/screenings", response_model=SupporterPublic)
def record_screening(supporter_id: UUID, body: ScreeningCreate, actor: PrincipalDep, app: RegistryDep,
                     response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.act(actor, supporter_id, expected_version(if_match), lambda s: s.record_screening(
        kind=body.kind, held_on=body.held_on, note=app.seal(supporter_id, body.note)))
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
    s = app.act(actor, supporter_id, expected_version(if_match), lambda s: s.refuse(
        refused_on=body.refused_on, reason=app.seal(supporter_id, body.reason)))
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/details-changes", response_model=SupporterPublic)
def change_details(supporter_id: UUID, body: DetailsChange, actor: PrincipalDep, app: RegistryDep,
                   response: Response, if_match: IfMatch = None) -> SupporterPublic:
    changes = body.model_dump(mode="json", exclude_none=True, exclude={"changed_on"})
    s = app.act(actor, supporter_id, expected_version(if_match), lambda s: s.change_details(
        changed_fields=list(changes), changes=app.seal(supporter_id, changes) or {},
        changed_on=body.changed_on), self_service=True)
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
    s = app.act(actor, supporter_id, expected_version(if_match),
                lambda s: s.withdraw_consent(withdrawn_on=body.withdrawn_on), self_service=True)
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/withdrawal", response_model=SupporterPublic)
def withdraw_registration(supporter_id: UUID, body: WithdrawalCreate, actor: PrincipalDep, app: RegistryDep,
                          response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.act(actor, supporter_id, expected_version(if_match), lambda s: s.withdraw(
        withdrawn_on=body.withdrawn_on, reason=app.seal(supporter_id, body.reason)))
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/use-suspension", response_model=SupporterPublic)
def suspend_use(supporter_id: UUID, body: DatedCreate, actor: PrincipalDep, app: RegistryDep,
                response: Response) -> SupporterPublic:
    """利用停止 at the supporter's request: no roster provision of their data until resumed."""
    s = app.act(actor, supporter_id, None, lambda s: s.suspend_use(suspended_on=body.on))
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/use-resumption", response_model=SupporterPublic)
def resume_use(supporter_id: UUID, body: DatedCreate, actor: PrincipalDep, app: RegistryDep,
               response: Response) -> SupporterPublic:
    s = app.act(actor, supporter_id, None, lambda s: s.resume_use(resumed_on=body.on))
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/erasure", response_model=SupporterPublic)
def erase_supporter_data(supporter_id: UUID, body: ErasureCreate, actor: PrincipalDep, app: RegistryDep,
                         response: Response) -> SupporterPublic:
    """After the registration ended: destroy the supporter's key (the record and numbers remain)."""
    return _respond(app, app.erase_supporter(actor, supporter_id, erased_on=body.on, basis=body.basis), response)


@router.post("/supporters/{supporter_id}/revocation-inquiries", response_model=SupporterPublic)
def record_revocation_inquiry(supporter_id: UUID, body: InquiryCreate, actor: PrincipalDep, app: RegistryDep,
                              response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.act(actor, supporter_id, expected_version(if_match), lambda s: s.record_inquiry(
        kind=body.kind, held_on=body.held_on, findings=app.seal(supporter_id, body.findings)))
    return _respond(app, s, response)


@router.post("/supporters/{supporter_id}/revocation", response_model=SupporterPublic)
def revoke_registration(supporter_id: UUID, body: RevocationCreate, actor: PrincipalDep, app: RegistryDep,
                        response: Response, if_match: IfMatch = None) -> SupporterPublic:
    s = app.act(actor, supporter_id, expected_version(if_match), lambda s: s.revoke(
        revoked_on=body.revoked_on, grounds=app.seal(supporter_id, body.grounds)))
    return _respond(app, s, response)
