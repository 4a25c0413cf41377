"""Case: a consultation case (相談) of a person (本人), their family (家族) or an agency (関係機関).

000 §2 (1) 相談支援: the centre answers consultations by phone, visit and mail and visits homes
(訪問支援). Every consultation counts in 延べ相談件数 (001, 活動指標), repeat ones included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from libs.domain import agencies, intake
from libs.domain.codes import validate_lg_code
from libs.domain.contracts import ClientKey, derived_id, idempotency_digest
from libs.domain.legal_bases import check_legal_basis
from libs.domain.personal_data import UseSuspension
from services.intake.domain.consultations import CLOCK_SKEW, RecordsConsultations
from services.intake.domain.errors import (
    ConsentMissing,
    InvalidCase,
    InvalidConsultation,
    InvalidReferral,
    UseIsSuspended,
    WrongCaseStatus,
)


class Case(RecordsConsultations, UseSuspension, Aggregate):
    DATA_NAME = "the case's personal data"
    INVALID_INPUT = InvalidCase
    # v2 keeps consultations by the digest of their Idempotency-Key (v1 snapshots: by the key);
    # v3 keeps every consent to share, withdrawn ones too (a retried creation finds its consent);
    # v4 keeps no consultation, only their count and the voided ones: the creations ledger
    # (libs/platform/store/creations.py) knows each consultation and its key, the log its content,
    # so a case's snapshot, and its load, stay the same size as its history grows (issue 15).
    class_version = 4

    @staticmethod
    def upcast_v1_v2(state: dict) -> None:
        """A snapshot taken before keys were hashed: the same consultations, keyed by digest."""
        state["idempotency_keys"] = {
            idempotency_digest(intake.CONTEXT, str(state["centre_id"]), key, None): consultation_id
            for key, consultation_id in state["idempotency_keys"].items()}

    @staticmethod
    def upcast_v2_v3(state: dict) -> None:
        """A snapshot without the consents' history: the current consents are all it knows of."""
        state["share_consents"] = {consent_id: {**c, "given_by": None, "explained_on": None,
                                                "consent_text_version": None, "withdrawn_on": None}
                                   for consent_id, c in state["consents"].items()}

    @staticmethod
    def upcast_v3_v4(state: dict) -> None:
        """A snapshot that held every consultation: their count and the voided ones are what a case
        keeps now. Its key digests stay (they came before the ledger: a retry still finds them)."""
        consultations = state.pop("consultations")
        state["consultation_count"] = sum(not c.get("voided") for c in consultations)
        state["voided_consultations"] = [str(c["consultation_id"]) for c in consultations if c.get("voided")]

    CaseOpened = intake.CaseOpened
    ConsultationRecorded = intake.ConsultationRecorded
    SupporterRequested = intake.SupporterRequested
    ConsultationVoided = intake.ConsultationVoided
    SubjectErased = intake.SubjectErased
    PersonalDetailsCorrected = intake.PersonalDetailsCorrected
    UseSuspended = intake.UseSuspended
    UseResumed = intake.UseResumed
    OutreachVisitRecorded = intake.OutreachVisitRecorded
    InfoSharingConsented = intake.InfoSharingConsented
    InfoSharingWithdrawn = intake.InfoSharingWithdrawn
    CaseInfoDisclosed = intake.CaseInfoDisclosed
    ReferralMade = intake.ReferralMade
    ReferralFollowedUp = intake.ReferralFollowedUp
    SupportDecided = intake.SupportDecided
    ReferralDeclined = intake.ReferralDeclined
    ReferralClosed = intake.ReferralClosed
    SupportMeetingHeld = intake.SupportMeetingHeld
    CaseClosed = intake.CaseClosed
    CaseReopened = intake.CaseReopened

    @event(CaseOpened)
    def __init__(
        self, id: UUID, tenant: str, centre_id: UUID, client_kind: str, age_group: str,
        residence_municipality: str | None, personal_details: dict | None,
    ) -> None:
        self.tenant = tenant
        self.centre_id = centre_id
        self.client_kind = client_kind
        self.age_group = age_group
        self.residence_municipality = residence_municipality
        self.personal_details = personal_details
        self.status = "open"
        self.erased = False
        self.use_suspended = False
        self.outreach_visits = 0
        self.consents: dict[str, dict] = {}  # current (unwithdrawn) consents to share, by id
        self.share_consents: dict[str, dict] = {}  # every consent to share, withdrawn ones too, by id
        self.referrals: dict[str, dict] = {}
        self.disclosures = 0
        self.closed_on: date | None = None
        self.last_provision_on: date | None = None
        self.consultation_count = 0  # not voided
        self.voided_consultations: list[str] = []
        # Consultations recorded before the creations ledger, by the digest of their Idempotency-Key:
        # only events of then carry one, so this stops growing (the ledger keeps keys since).
        self.idempotency_keys: dict[str, UUID] = {}
        self.supporter_requests: dict[str, str] = {}  # request id → municipality (str keys: snapshots are JSON)

    @classmethod
    def open(cls, *, id: UUID, tenant: str, centre_id: UUID, client_kind: str, age_group: str,
             residence_municipality: str | None = None, personal_details: dict | None) -> Case:
        if client_kind not in intake.CLIENT_KINDS:
            raise InvalidCase(f"client_kind must be one of {intake.CLIENT_KINDS}")
        if age_group not in intake.AGE_GROUPS:
            raise InvalidCase(f"age_group must be one of {intake.AGE_GROUPS}")
        if residence_municipality is not None:
            validate_lg_code(residence_municipality)
        return cls(id=id, tenant=tenant, centre_id=centre_id, client_kind=client_kind, age_group=age_group,
                   residence_municipality=residence_municipality, personal_details=personal_details)

    def record_consultation(self, *, consultation_id: UUID, channel: str, consulted_by: str,
                            occurred_at: datetime, summary: dict | None) -> None:
        """Record one consultation (once per Idempotency-Key: ServiceApplication.create_inside)."""
        self.check_consultation(channel=channel, consulted_by=consulted_by, occurred_at=occurred_at)
        self._record_consultation(
            consultation_id=consultation_id, centre_id=self.centre_id, channel=channel,
            consulted_by=consulted_by, occurred_at=occurred_at, summary=summary, idempotency_digest=None)

    def consultation_of_key(self, idempotency_key: ClientKey | None) -> UUID | None:
        """The consultation recorded with this Idempotency-Key before the creations ledger, if any
        (kept by its digest: the keyed one, or the unkeyed one of a consultation recorded before
        digests were keyed)."""
        if not idempotency_key:
            return None
        return next((self.idempotency_keys[d] for d in intake.consultation_key_digests(self.centre_id, idempotency_key)
                     if d in self.idempotency_keys), None)

    def void_consultation(self, *, consultation_id: UUID, voided_on: date, reason: str) -> None:
        """Void a consultation of this case (the application found it: the case keeps only its count)."""
        if str(consultation_id) in self.voided_consultations:
            raise WrongCaseStatus("the consultation was voided already")
        if reason not in intake.VOID_REASONS:
            raise InvalidConsultation(f"reason must be one of {intake.VOID_REASONS}")
        self._void(consultation_id=consultation_id, voided_on=voided_on, reason=reason)

    @event(ConsultationVoided)
    def _void(self, consultation_id: UUID, voided_on: date, reason: str) -> None:
        self.consultation_count -= 1
        self.voided_consultations.append(str(consultation_id))

    @event(ConsultationRecorded)
    def _record_consultation(
        self, consultation_id: UUID, centre_id: UUID, channel: str, consulted_by: str,
        occurred_at: datetime, summary: dict | None, idempotency_digest: str | None,
    ) -> None:
        self._count_consultation(consultation_id, idempotency_digest)

    def request_supporter(self, *, request_id: UUID, municipality: str, needs: list[str],
                          preferences: dict[str, str], requested_on: date, requested_by: str) -> None:
        self.require_open()
        validate_lg_code(municipality)
        unknown = set(needs) - set(intake.SUPPORT_NEEDS)
        if not needs or unknown:
            raise InvalidCase(f"needs must be some of {intake.SUPPORT_NEEDS}")
        if requested_by not in intake.CLIENT_KINDS:
            raise InvalidCase(f"requested_by must be one of {intake.CLIENT_KINDS}")
        if str(request_id) in self.supporter_requests:
            return
        # A request rests on the person's will and sends their case on to a municipality: 利用停止
        # stops it as it stops a disclosure by consent, until the person resumes the use.
        if self.use_suspended:
            raise UseIsSuspended("the person asked to stop the use of their data (利用停止)")
        self._request_supporter(request_id=request_id, subject_ref=str(self.id), centre_id=self.centre_id,
                                requested_by=requested_by, municipality=municipality,
                                needs=sorted(set(needs)), preferences=preferences, requested_on=requested_on)

    @event(SupporterRequested)
    def _request_supporter(self, request_id: UUID, subject_ref: str, centre_id: UUID, requested_by: str,
                           municipality: str, needs: list[str],
                           preferences: dict, requested_on: date) -> None:
        self.supporter_requests[str(request_id)] = municipality

    # -- outreach (訪問支援) ------------------------------------------------------------------------
    def record_outreach_visit(self, *, visit_id: UUID, staff_role: str, occurred_at: datetime,
                              summary: dict | None) -> None:
        self.require_open()
        if staff_role not in intake.STAFF_ROLES:
            raise InvalidCase(f"staff_role must be one of {intake.STAFF_ROLES}")
        _check_moment(occurred_at)
        self._outreach(visit_id=visit_id, centre_id=self.centre_id, staff_role=staff_role,
                       occurred_at=occurred_at, summary=summary)

    @event(OutreachVisitRecorded)
    def _outreach(self, visit_id: UUID, centre_id: UUID, staff_role: str, occurred_at: datetime,
                  summary: dict | None) -> None:
        self.outreach_visits += 1

    # -- consent to share (実施要領 第2 5(1)) ---------------------------------------------------------
    def consent_to_share(self, *, consent_id: UUID, given_by: str, agency_ids: list[str], categories: list[str],
                         items: list[str], explained_on: date, consent_text_version: str) -> None:
        self.require_open()
        if given_by not in ("person", "legal_guardian"):
            raise InvalidCase("given_by must be person or legal_guardian (法定代理人)")
        if not agency_ids and not categories:
            raise InvalidCase("a consent names at least one recipient (an agency or a category)")
        unknown = sorted(set(categories) - set(agencies.BY_CODE))
        if unknown:
            raise InvalidCase(f"unknown agency categories: {', '.join(unknown)}")
        if not items or set(items) - set(intake.SHARE_ITEMS):
            raise InvalidCase(f"items must be some of {intake.SHARE_ITEMS}")
        agency_ids, categories = sorted(set(agency_ids)), sorted(set(categories))
        items = [i for i in intake.SHARE_ITEMS if i in items]
        self._consented(consent_id=consent_id, given_by=given_by, agency_ids=agency_ids, categories=categories,
                        items=items, explained_on=explained_on, consent_text_version=consent_text_version,
                        record=intake.share_consent_record(
                            controller=self.tenant, given_by=given_by, items=items, agency_ids=agency_ids,
                            categories=categories, consent_text_version=consent_text_version))

    @event(InfoSharingConsented)
    def _consented(self, consent_id: UUID, given_by: str, agency_ids: list[str], categories: list[str],
                   items: list[str], explained_on: date, consent_text_version: str, record: dict) -> None:
        self.consents[str(consent_id)] = {"agency_ids": agency_ids, "categories": categories, "items": items}
        self.share_consents[str(consent_id)] = {**self.consents[str(consent_id)], "given_by": given_by,
                                                "explained_on": explained_on,
                                                "consent_text_version": consent_text_version, "withdrawn_on": None}

    def withdraw_consent(self, *, consent_id: UUID, withdrawn_on: date) -> None:
        if str(consent_id) not in self.consents:
            raise ConsentMissing(f"no current consent {consent_id} on this case")
        self._withdrawn(consent_id=consent_id, withdrawn_on=withdrawn_on)

    @event(InfoSharingWithdrawn)
    def _withdrawn(self, consent_id: UUID, withdrawn_on: date) -> None:
        self.consents.pop(str(consent_id), None)
        if str(consent_id) in self.share_consents:
            self.share_consents[str(consent_id)]["withdrawn_on"] = withdrawn_on

    def consent_for(self, agency_id: UUID, category: str, items: list[str]) -> UUID:
        """The current consent naming this agency (or its category) and covering the items."""
        for consent_id, c in self.consents.items():
            names = str(agency_id) in c["agency_ids"] or category in c["categories"]
            if names and set(items) <= set(c["items"]):
                return UUID(consent_id)
        raise ConsentMissing(
            f"no current consent to share {', '.join(items) or 'this case'} with agency {agency_id} ({category})",
            recipient=str(agency_id), category=category, items=items)

    def share_with(self, *, disclosure_id: UUID, agency_id: UUID, category: str, items: list[str],
                   disclosed_on: date, purpose: str, legal_basis: str | None = None, statute: dict | None = None,
                   reason: dict | None = None) -> str:
        """Give case information to an agency under a current consent naming it, or under a stated
        legal basis (APPI 第27条第1項) with its justification; returns what it rests on. A legal
        basis does not depend on the person's will, so the person's 利用停止 (which stops what rests
        on their consent) does not stop it: a provision the law allows is no unlawful use (第35条)."""
        self.require_open()
        if legal_basis is None:
            if self.use_suspended:
                raise UseIsSuspended("the person asked to stop the use of their data (利用停止)")
            consent_id: UUID | None = self.consent_for(agency_id, category, items)
        else:
            check_legal_basis(legal_basis, statute=statute, has_reason=reason is not None)
            if set(items) - set(intake.SHARE_ITEMS):
                raise InvalidCase(f"items must be some of {intake.SHARE_ITEMS}")
            consent_id = None
        self._disclosed(disclosure_id=disclosure_id, recipient_agency_id=agency_id,
                        items=[i for i in intake.SHARE_ITEMS if i in items],
                        consent_id=consent_id, legal_basis=legal_basis, statute=statute, reason=reason,
                        disclosed_on=disclosed_on, purpose=purpose)
        return str(consent_id or legal_basis)

    @event(CaseInfoDisclosed)
    def _disclosed(self, disclosure_id: UUID, recipient_agency_id: UUID, items: list[str], consent_id: UUID | None,
                   legal_basis: str | None, statute: dict | None, reason: dict | None, disclosed_on: date,
                   purpose: str) -> None:
        self.disclosures += 1
        self.last_provision_on = max(filter(None, (self.last_provision_on, disclosed_on)))

    # -- referrals (つなぎ) -------------------------------------------------------------------------
    def refer(self, *, referral_id: UUID, agency_id: UUID, category: str, items: list[str],
              referred_on: date, legal_basis: str | None = None, statute: dict | None = None,
              reason: dict | None = None) -> None:
        """Hand the case to an agency: only under a current consent naming it (or a stated legal
        basis), and the items the agency receives are a recorded disclosure."""
        self.require_open()
        self.share_with(disclosure_id=derived_id("disclosure", referral_id), agency_id=agency_id,
                        category=category, items=items, disclosed_on=referred_on,
                        purpose="referral", legal_basis=legal_basis, statute=statute, reason=reason)
        self._referred(referral_id=referral_id, centre_id=self.centre_id, agency_id=agency_id,
                       agency_category=category, referred_on=referred_on)

    @event(ReferralMade)
    def _referred(self, referral_id: UUID, centre_id: UUID, agency_id: UUID, agency_category: str,
                  referred_on: date) -> None:
        self.referrals[str(referral_id)] = {"agency_id": agency_id, "category": agency_category,
                                       "referred_on": referred_on, "outcome": None, "closed": False}

    def _referral(self, referral_id: UUID) -> dict:
        if str(referral_id) not in self.referrals:
            raise InvalidReferral(f"no referral {referral_id} on this case")
        return self.referrals[str(referral_id)]

    def follow_up(self, *, referral_id: UUID, followed_up_on: date, note: dict | None) -> None:
        referral = self._referral(referral_id)
        if referral["closed"]:
            raise WrongCaseStatus("the referral is closed")
        if followed_up_on < referral["referred_on"]:
            raise InvalidReferral("a follow-up cannot precede the referral")
        self._followed_up(referral_id=referral_id, followed_up_on=followed_up_on, note=note)

    @event(ReferralFollowedUp)
    def _followed_up(self, referral_id: UUID, followed_up_on: date, note: dict | None) -> None:
        pass

    def record_outcome(self, *, referral_id: UUID, decided: bool, on: date, reason: dict | None) -> None:
        referral = self._referral(referral_id)
        if referral["outcome"] is not None:
            raise WrongCaseStatus(f"the referral's outcome was recorded already ({referral['outcome']})")
        if on < referral["referred_on"]:
            raise InvalidReferral("the outcome cannot precede the referral")
        if decided:
            self._decided(referral_id=referral_id, centre_id=self.centre_id, agency_id=referral["agency_id"],
                          agency_category=referral["category"], decided_on=on)
        else:
            self._declined(referral_id=referral_id, declined_on=on, reason=reason)

    @event(SupportDecided)
    def _decided(self, referral_id: UUID, centre_id: UUID, agency_id: UUID, agency_category: str,
                 decided_on: date) -> None:
        self.referrals[str(referral_id)]["outcome"] = "support_decided"

    @event(ReferralDeclined)
    def _declined(self, referral_id: UUID, declined_on: date, reason: dict | None) -> None:
        self.referrals[str(referral_id)]["outcome"] = "declined"

    def close_referral(self, *, referral_id: UUID, closed_on: date) -> None:
        referral = self._referral(referral_id)
        if referral["closed"]:
            raise WrongCaseStatus("the referral is closed already")
        if closed_on < referral["referred_on"]:
            raise InvalidReferral("a referral cannot close before it was made")
        self._referral_closed(referral_id=referral_id, closed_on=closed_on)

    @event(ReferralClosed)
    def _referral_closed(self, referral_id: UUID, closed_on: date) -> None:
        self.referrals[str(referral_id)]["closed"] = True

    # -- meetings and the case's end ----------------------------------------------------------------
    def hold_meeting(self, *, meeting_id: UUID, held_on: date, agency_ids: list[str], note: dict | None) -> None:
        self.require_open()
        self._meeting(meeting_id=meeting_id, held_on=held_on, agency_ids=sorted(set(agency_ids)), note=note)

    @event(SupportMeetingHeld)
    def _meeting(self, meeting_id: UUID, held_on: date, agency_ids: list[str], note: dict | None) -> None:
        pass

    def close(self, *, reason: str, closed_on: date) -> None:
        self.require_open()
        if reason not in intake.CLOSE_REASONS:
            raise InvalidCase(f"reason must be one of {intake.CLOSE_REASONS}")
        self._closed(reason=reason, closed_on=closed_on)

    @event(CaseClosed)
    def _closed(self, reason: str, closed_on: date) -> None:
        self.status = "closed"
        self.closed_on = closed_on

    def reopen(self, *, reopened_on: date) -> None:
        if self.erased:
            raise WrongCaseStatus("an erased case cannot be reopened")
        if self.status != "closed":
            raise WrongCaseStatus("only a closed case can be reopened")
        self._reopened(reopened_on=reopened_on)

    @event(CaseReopened)
    def _reopened(self, reopened_on: date) -> None:
        self.status = "open"

    def _erased(self, erased_on: date, basis: str) -> None:
        self._subject_erased(subject_ref=str(self.id), erased_on=erased_on, basis=basis)

    @event(SubjectErased)
    def _subject_erased(self, subject_ref: str, erased_on: date, basis: str) -> None:
        self.erased = True
        self.status = "closed"

    def correct_details(self, *, personal_details: dict, corrected_on: date) -> None:
        self._require_not_erased()
        self._corrected(personal_details=personal_details, corrected_on=corrected_on)

    @event(PersonalDetailsCorrected)
    def _corrected(self, personal_details: dict, corrected_on: date) -> None:
        self.personal_details = personal_details

    @event(UseSuspended)
    def _use_suspended(self, suspended_on: date) -> None:
        self.use_suspended = True

    @event(UseResumed)
    def _use_resumed(self, resumed_on: date) -> None:
        self.use_suspended = False

    def _wrong_status(self, detail: str) -> WrongCaseStatus:
        return WrongCaseStatus(detail)

    def _retention_starts_on(self) -> date | None:
        """Closed: from the closing or the last provision of the person's data, whichever is later."""
        if self.status != "closed" or self.closed_on is None:
            return None
        return max(filter(None, (self.closed_on, self.last_provision_on)))

    def require_open(self) -> None:
        self._require_not_erased()  # an erasure closes the case, and it cannot be reopened: 410, not 409
        if self.status != "open":
            raise WrongCaseStatus("the case is closed; reopen it first")

    def open_referrals(self) -> list[str]:
        return [r for r, v in self.referrals.items() if v["outcome"] is None and not v["closed"]]


def _check_moment(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise InvalidCase("the time needs a timezone (e.g. +09:00)")
    if moment > datetime.now(UTC) + CLOCK_SKEW:
        raise InvalidCase("the time is in the future")

