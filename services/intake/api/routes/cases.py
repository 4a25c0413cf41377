"""/v1/cases: consultations, outreach, consent to share, referrals, meetings, closing."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from libs.platform.privacy.sealing import Sealer
from libs.platform.web.created import answer_created
from libs.platform.web.deps import IdempotencyKey, IfMatch, PrincipalDep, expected_version
from libs.platform.web.routing import OneHopRoute
from services.intake.api.deps import IntakeDep, IntakeReadsDep
from services.intake.api.schemas import (
    CaseCreate,
    CasePublic,
    CloseCreate,
    ConsultationCreate,
    ConsultationPublic,
    ConsultationsPublic,
    CorrectionCreate,
    DatedCreate,
    ErasureCreate,
    FollowUpCreate,
    LegalBasisCreate,
    OutcomeCreate,
    ReferralCreate,
    ReferralPublic,
    ShareConsentCreate,
    ShareConsentPublic,
    TimelinePublic,
    VoidCreate,
)
from services.intake.domain.case import Case
from services.intake.domain.errors import CaseNotFound

router = APIRouter(route_class=OneHopRoute, prefix="/v1/cases", tags=["cases"])


def case_public(case: Case, sealer: Sealer) -> CasePublic:
    return CasePublic.model_validate({
        "id": case.id, "centre_id": case.centre_id, "client_kind": case.client_kind, "age_group": case.age_group,
        "residence_municipality": case.residence_municipality, "status": case.status,
        "personal_details": sealer.open(case.personal_details),
        "consultation_count": case.consultation_count,
        "outreach_visits": case.outreach_visits, "consents": case.consents,
        "referrals": {k: {**v, "agency_id": str(v["agency_id"])} for k, v in case.referrals.items()},
        "version": case.version,
    })


def _out(case: Case, response: Response, sealer: Sealer) -> CasePublic:
    response.headers["ETag"] = f'"{case.version}"'
    return case_public(case, sealer)


def stated_basis(stated: LegalBasisCreate | None) -> dict | None:
    return stated.model_dump() if stated else None


def consultation_public(case: Case, entry: dict, sealer: Sealer | None) -> ConsultationPublic:
    """`sealer` None: the entry's summary is plaintext already."""
    return ConsultationPublic(
        id=entry["consultation_id"], case_id=case.id, channel=entry["channel"],
        consulted_by=entry["consulted_by"], occurred_at=entry["occurred_at"],
        summary=sealer.open(entry["summary"]) if sealer is not None else entry["summary"],
        voided=str(entry["consultation_id"]) in case.voided_consultations,
        case_version=case.version,
    )


@router.post("", status_code=201, response_model=CasePublic)
def open_case(body: CaseCreate, actor: PrincipalDep, intake: IntakeDep, response: Response,
              idempotency_key: IdempotencyKey = None) -> CasePublic:
    details = body.personal_details.model_dump(mode="json", exclude_none=True) if body.personal_details else None
    case, created = intake.open_case(
        actor, centre_id=body.centre_id, client_kind=body.client_kind, age_group=body.age_group,
        residence_municipality=body.residence_municipality, personal_details=details or None,
        idempotency_key=idempotency_key,
    )
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/cases/{case.id}"
    return _out(case, response, intake.sealer)


@router.get("/{case_id}", response_model=CasePublic)
def get_case(case_id: UUID, actor: PrincipalDep, intake: IntakeDep, response: Response) -> CasePublic:
    return _out(intake.get_case(actor, case_id), response, intake.sealer)


@router.get("/{case_id}/timeline", response_model=TimelinePublic)
def get_case_timeline(case_id: UUID, actor: PrincipalDep, intake: IntakeDep) -> TimelinePublic:
    """Every event of the case, sealed fields opened for the centre's staff."""
    return TimelinePublic.model_validate({"case_id": case_id, "events": [
        {"version": e["sequence"], "type": e["type"], "time": e["time"], "data": e["data"]}
        for e in intake.case_timeline(actor, case_id)]})


@router.post("/{case_id}/consultations", status_code=201, response_model=ConsultationPublic)
def record_consultation(case_id: UUID, body: ConsultationCreate, actor: PrincipalDep, intake: IntakeDep,
                        response: Response, idempotency_key: IdempotencyKey = None,
                        if_match: IfMatch = None) -> ConsultationPublic:
    recorded = intake.record_consultation(
        actor, case_id, expected_version=expected_version(if_match), channel=body.channel,
        consulted_by=body.consulted_by, occurred_at=body.occurred_at, summary=body.summary,
        idempotency_key=idempotency_key,
    )
    created_in_case(response, recorded.case, recorded.created,
             f"/v1/cases/{case_id}/consultations/{recorded.consultation_id}")
    if recorded.created:  # the summary just sealed is the one sent: not opened again (a look at the erasure log)
        return consultation_public(recorded.case, {**recorded.entry, "summary": body.summary or None}, None)
    return consultation_public(recorded.case, recorded.entry, intake.sealer)


@router.get("/{case_id}/consultations", response_model=ConsultationsPublic)
def list_consultations(case_id: UUID, actor: PrincipalDep, intake: IntakeDep) -> ConsultationsPublic:
    case, entries = intake.consultations(actor, case_id)
    data = [consultation_public(case, c, intake.sealer) for c in entries]
    return ConsultationsPublic(data=data, count=len(data))


@router.get("/{case_id}/consultations/{consultation_id}", response_model=ConsultationPublic)
def get_consultation(case_id: UUID, consultation_id: UUID, actor: PrincipalDep, intake: IntakeDep,
                     response: Response) -> ConsultationPublic:
    case = intake.get_case(actor, case_id)
    entry = intake.consultation(case, consultation_id)
    if entry is None:
        raise CaseNotFound(f"no consultation {consultation_id} on this case")
    response.headers["ETag"] = f'"{case.version}"'
    return consultation_public(case, entry, intake.sealer)


@router.post("/{case_id}/consultations/{consultation_id}/void", response_model=CasePublic)
def void_consultation(case_id: UUID, consultation_id: UUID, body: VoidCreate, actor: PrincipalDep,
                      intake: IntakeDep, response: Response) -> CasePublic:
    """A consultation entered by mistake stops counting in its year (the report shows the change)."""
    case = intake.void_consultation(actor, case_id, consultation_id, voided_on=body.on, reason=body.reason)
    return _out(case, response, intake.sealer)


def share_consent_public(case: Case, consent_id: UUID) -> ShareConsentPublic:
    return ShareConsentPublic.model_validate({**case.share_consents[str(consent_id)], "consent_id": consent_id,
                                              "case_id": case.id, "case_version": case.version})


def referral_public(case: Case, referral_id: UUID) -> ReferralPublic:
    return ReferralPublic.model_validate({**case.referrals[str(referral_id)], "referral_id": referral_id,
                                          "case_id": case.id, "case_version": case.version})


def created_in_case(response: Response, case: Case, created: bool, location: str) -> None:
    answer_created(response, created=created, location=location, version=case.version)


@router.post("/{case_id}/share-consents", status_code=201, response_model=ShareConsentPublic)
def consent_to_share(case_id: UUID, body: ShareConsentCreate, actor: PrincipalDep, intake: IntakeDep,
                     response: Response, idempotency_key: IdempotencyKey = None) -> ShareConsentPublic:
    made = intake.consent_to_share(
        actor, case_id, given_by=body.given_by, agency_ids=body.agency_ids, categories=body.categories,
        items=list(body.items), explained_on=body.explained_on, consent_text_version=body.consent_text_version,
        idempotency_key=idempotency_key)
    created_in_case(response, made.aggregate, made.created, f"/v1/cases/{case_id}/share-consents/{made.resource_id}")
    return share_consent_public(made.aggregate, made.resource_id)


@router.get("/{case_id}/share-consents/{consent_id}", response_model=ShareConsentPublic)
def get_share_consent(case_id: UUID, consent_id: UUID, actor: PrincipalDep, intake: IntakeDep,
                      response: Response) -> ShareConsentPublic:
    case = intake.get_case(actor, case_id)
    if str(consent_id) not in case.share_consents:
        raise CaseNotFound(f"no consent {consent_id} on this case")
    response.headers["ETag"] = f'"{case.version}"'
    return share_consent_public(case, consent_id)


@router.post("/{case_id}/share-consents/{consent_id}/withdrawal", response_model=CasePublic)
def withdraw_share_consent(case_id: UUID, consent_id: UUID, body: DatedCreate, actor: PrincipalDep,
                           intake: IntakeDep, response: Response) -> CasePublic:
    case = intake.withdraw_share_consent(actor, case_id, consent_id, withdrawn_on=body.on)
    return _out(case, response, intake.sealer)


@router.get("/{case_id}/share-consents/{consent_id}/receipt")
def share_consent_receipt(case_id: UUID, consent_id: UUID, actor: PrincipalDep, reads: IntakeReadsDep) -> dict:
    """A signed consent receipt (Kantara v1.1 / ISO/IEC TS 27560) to hand to the person."""
    return reads.consent_receipt(actor, case_id, consent_id)


@router.post("/{case_id}/referrals", status_code=201, response_model=ReferralPublic)
def refer_to_agency(case_id: UUID, body: ReferralCreate, actor: PrincipalDep, intake: IntakeDep,
                    response: Response, idempotency_key: IdempotencyKey = None) -> ReferralPublic:
    made = intake.refer(actor, case_id, agency_id=body.agency_id, items=list(body.items),
                        referred_on=body.referred_on, idempotency_key=idempotency_key,
                        legal_basis=stated_basis(body.legal_basis))
    created_in_case(response, made.aggregate, made.created, f"/v1/cases/{case_id}/referrals/{made.resource_id}")
    return referral_public(made.aggregate, made.resource_id)


@router.get("/{case_id}/referrals/{referral_id}", response_model=ReferralPublic)
def get_referral(case_id: UUID, referral_id: UUID, actor: PrincipalDep, intake: IntakeDep,
                 response: Response) -> ReferralPublic:
    case = intake.get_case(actor, case_id)
    if str(referral_id) not in case.referrals:
        raise CaseNotFound(f"no referral {referral_id} on this case")
    response.headers["ETag"] = f'"{case.version}"'
    return referral_public(case, referral_id)


@router.post("/{case_id}/referrals/{referral_id}/follow-ups", response_model=CasePublic)
def follow_up_referral(case_id: UUID, referral_id: UUID, body: FollowUpCreate, actor: PrincipalDep,
                       intake: IntakeDep, response: Response) -> CasePublic:
    case = intake.follow_up_referral(actor, case_id, referral_id, followed_up_on=body.followed_up_on, note=body.note)
    return _out(case, response, intake.sealer)


@router.post("/{case_id}/referrals/{referral_id}/outcome", response_model=CasePublic)
def record_referral_outcome(case_id: UUID, referral_id: UUID, body: OutcomeCreate, actor: PrincipalDep,
                            intake: IntakeDep, response: Response) -> CasePublic:
    """The agency's answer: 支援決定 (the outcome indicator) or declined."""
    case = intake.record_referral_outcome(actor, case_id, referral_id, decided=body.outcome == "support_decided",
                                          on=body.on, reason=body.reason)
    return _out(case, response, intake.sealer)


@router.post("/{case_id}/referrals/{referral_id}/closure", response_model=CasePublic)
def close_referral(case_id: UUID, referral_id: UUID, body: DatedCreate, actor: PrincipalDep, intake: IntakeDep,
                   response: Response) -> CasePublic:
    case = intake.close_referral(actor, case_id, referral_id, closed_on=body.on)
    return _out(case, response, intake.sealer)


@router.post("/{case_id}/closure", response_model=CasePublic)
def close_case(case_id: UUID, body: CloseCreate, actor: PrincipalDep, intake: IntakeDep, response: Response,
               if_match: IfMatch = None) -> CasePublic:
    case = intake.close_case(actor, case_id, expected_version=expected_version(if_match), reason=body.reason,
                             closed_on=body.on)
    return _out(case, response, intake.sealer)


@router.post("/{case_id}/reopening", response_model=CasePublic)
def reopen_case(case_id: UUID, body: DatedCreate, actor: PrincipalDep, intake: IntakeDep,
                response: Response) -> CasePublic:
    case = intake.reopen_case(actor, case_id, reopened_on=body.on)
    return _out(case, response, intake.sealer)


@router.post("/{case_id}/corrections", response_model=CasePublic)
def correct_personal_details(case_id: UUID, body: CorrectionCreate, actor: PrincipalDep, intake: IntakeDep,
                             response: Response) -> CasePublic:
    """訂正: the person's details as corrected (sealed again under the person's key)."""
    details = body.personal_details.model_dump(mode="json", exclude_none=True)
    case = intake.correct_personal_details(actor, case_id, personal_details=details, corrected_on=body.on)
    return _out(case, response, intake.sealer)


@router.post("/{case_id}/use-suspension", response_model=CasePublic)
def suspend_use(case_id: UUID, body: DatedCreate, actor: PrincipalDep, intake: IntakeDep,
                response: Response) -> CasePublic:
    """利用停止: no sharing or referral of the person's data until resumed."""
    case = intake.suspend_use(actor, case_id, suspended_on=body.on)
    return _out(case, response, intake.sealer)


@router.post("/{case_id}/use-resumption", response_model=CasePublic)
def resume_use(case_id: UUID, body: DatedCreate, actor: PrincipalDep, intake: IntakeDep,
               response: Response) -> CasePublic:
    case = intake.resume_use(actor, case_id, resumed_on=body.on)
    return _out(case, response, intake.sealer)


@router.post("/{case_id}/erasure", response_model=CasePublic)
def erase_case_subject(case_id: UUID, body: ErasureCreate, actor: PrincipalDep, intake: IntakeDep,
                       response: Response) -> CasePublic:
    """Destroy the person's key: their sealed data reads as erased everywhere, the log stays whole."""
    case = intake.erase_subject(actor, case_id, erased_on=body.on, basis=body.basis)
    return _out(case, response, intake.sealer)
