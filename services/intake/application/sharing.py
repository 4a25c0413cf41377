"""Use cases of つなぎ on a case: consent to share, disclosures, referrals and their outcomes, and
asking the registry for a supporter."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from uuid import UUID

from libs.domain.legal_bases import check_legal_basis
from libs.platform.store.creating import Created
from libs.platform.store.sealed import sealing
from libs.platform.web.auth import Principal
from services.intake.application.cases import CaseUseCases
from services.intake.application.centres import CentreUseCases
from services.intake.domain.case import Case


class SharingUseCases(CaseUseCases, CentreUseCases):
    def consent_to_share(self, actor: Principal, case_id: UUID, *, given_by: str, agency_ids: list[UUID],
                         categories: list[str], items: list[str], explained_on: date,
                         consent_text_version: str, idempotency_key: str | None) -> Created[Case]:
        """Record the person's consent, once per Idempotency-Key (the key itself is never recorded)."""
        creation = self.creation("share-consent", case_id, idempotency_key, given_by=given_by,
                                 agency_ids=sorted(str(a) for a in agency_ids), categories=sorted(categories),
                                 items=sorted(items), explained_on=explained_on,
                                 consent_text_version=consent_text_version)
        return self.create_inside(creation, lambda: self.get_case(actor, case_id), lambda c, consent_id: (
            c.consent_to_share(consent_id=consent_id, given_by=given_by, agency_ids=[str(a) for a in agency_ids],
                               categories=categories, items=items, explained_on=explained_on,
                               consent_text_version=consent_text_version)),
            legacy=lambda c: creation.legacy_in(c.share_consents))

    def withdraw_share_consent(self, actor: Principal, case_id: UUID, consent_id: UUID, *,
                               withdrawn_on: date) -> Case:
        return self._change_case(actor, case_id, lambda c: c.withdraw_consent(
            consent_id=consent_id, withdrawn_on=withdrawn_on))

    @sealing
    def share_with_agency(self, actor: Principal, case_id: UUID, *, agency_id: UUID, items: list[str], on: date,
                          purpose: str, legal_basis: dict[str, Any] | None = None,
                          idempotency_key: str | None = None) -> Created[Case]:
        # The agency first: an unknown agency is named as such even on a case the caller cannot see.
        agency = self.agency(agency_id)
        creation = self.creation("disclosure", case_id, idempotency_key, agency_id=agency_id, items=sorted(items),
                                 on=on, purpose=purpose, legal_basis=legal_basis)

        def share(c: Case, disclosure_id: UUID) -> None:
            agency.require_active()
            basis = self._legal_basis(c, agency.category, legal_basis)
            c.share_with(disclosure_id=disclosure_id, agency_id=agency.id, category=agency.category, items=items,
                         disclosed_on=on, purpose=purpose, **basis)

        return self.create_inside(creation, lambda: self.get_case(actor, case_id), share)

    @sealing
    def refer(self, actor: Principal, case_id: UUID, *, agency_id: UUID, items: list[str], referred_on: date,
              idempotency_key: str | None, legal_basis: dict[str, Any] | None = None) -> Created[Case]:
        agency = self.agency(agency_id)
        creation = self.creation("referral", case_id, idempotency_key, agency_id=agency_id, items=sorted(items),
                                 referred_on=referred_on, legal_basis=legal_basis)

        def refer(c: Case, referral_id: UUID) -> None:
            agency.require_active()
            basis = self._legal_basis(c, agency.category, legal_basis)
            c.refer(referral_id=referral_id, agency_id=agency.id, category=agency.category, items=items,
                    referred_on=referred_on, **basis)

        return self.create_inside(creation, lambda: self.get_case(actor, case_id), refer,
                                  legacy=lambda c: creation.legacy_in(c.referrals))

    @sealing
    def follow_up_referral(self, actor: Principal, case_id: UUID, referral_id: UUID, *, followed_up_on: date,
                           note: str | None) -> Case:
        return self._change_case(actor, case_id, lambda c: c.follow_up(
            referral_id=referral_id, followed_up_on=followed_up_on, note=self.seal(case_id, note)))

    @sealing
    def record_referral_outcome(self, actor: Principal, case_id: UUID, referral_id: UUID, *, decided: bool,
                                on: date, reason: str | None) -> Case:
        return self._change_case(actor, case_id, lambda c: c.record_outcome(
            referral_id=referral_id, decided=decided, on=on, reason=self.seal(case_id, reason)))

    def close_referral(self, actor: Principal, case_id: UUID, referral_id: UUID, *, closed_on: date) -> Case:
        return self._change_case(actor, case_id, lambda c: c.close_referral(
            referral_id=referral_id, closed_on=closed_on))

    def request_supporter(self, actor: Principal, case_id: UUID, *, municipality: str, needs: list[str],
                          preferences: Mapping[str, str], requested_on: date, requested_by: str | None,
                          idempotency_key: str | None) -> Created[Case]:
        # Omitted, the requester is the case's client: digested as such, so a retry that names
        # that client explicitly is the same request (and not a reused key, 422).
        requester = requested_by or self.get_case(actor, case_id).client_kind
        creation = self.creation("supporter-request", case_id, idempotency_key, municipality=municipality,
                                 needs=sorted(needs), preferences=dict(preferences), requested_on=requested_on,
                                 requested_by=requester)
        return self.create_inside(creation, lambda: self.get_case(actor, case_id), lambda c, request_id: (
            c.request_supporter(request_id=request_id, municipality=municipality, needs=needs,
                                preferences=dict(preferences), requested_on=requested_on,
                                requested_by=requester)),
            legacy=lambda c: creation.legacy_in(c.supporter_requests))

    def _legal_basis(self, case: Case, recipient_category: str, stated: dict[str, Any] | None) -> dict[str, Any]:
        """The legal basis as the case records it: checked before anything is sealed (a refused
        request writes nothing, not even a key), the statute's code against its conditions (the
        recipient's category, the person's age group), the reason sealed under the person's key."""
        if not stated:
            return {}
        reason = stated.get("reason") or None
        check_legal_basis(stated["code"], statute=stated.get("statute"), has_reason=reason is not None,
                          recipient_category=recipient_category, age_group=case.age_group)
        return {"legal_basis": stated["code"], "statute": self.seal(case.id, stated.get("statute") or None),
                "reason": self.seal(case.id, reason)}
