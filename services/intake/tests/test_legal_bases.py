"""Sharing case information on a legal basis (APPI 第27条第1項) instead of the person's consent."""

from __future__ import annotations

from datetime import date
from typing import Any, get_args
from uuid import uuid4

import pytest

from libs.domain import agencies
from libs.domain.legal_bases import (
    CODES,
    LEGAL_BASES,
    STATUTE_CODES,
    STATUTES,
    InvalidLegalBasis,
    LegalBasisCode,
    StatuteCode,
    check_legal_basis,
)
from services.intake.domain.case import Case
from services.intake.domain.errors import ConsentMissing, UseIsSuspended

DAY = date(2016, 6, 1)
SEALED_REASON = {"alg": "A256GCM", "kid": "k", "iv": "i", "ct": "c"}
ABUSE_ACT = "child_abuse_notification"  # 児童虐待の防止等に関する法律 第6条第1項
SEALED_STATUTE = {"alg": "A256GCM", "kid": "k", "iv": "i2", "ct": "c2"}  # the citation, sealed


def _case() -> Case:
    return Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="family", age_group="child",
                     personal_details=None)


def _share(case: Case, **basis: Any) -> str:
    return case.share_with(disclosure_id=uuid4(), agency_id=uuid4(), category="child_guidance_centre",
                           items=["name", "address"], disclosed_on=DAY, purpose="other", **basis)


def test_the_vocabulary_names_the_four_exceptions_of_article_27_once_each():
    assert CODES == ("required_by_law", "protection_of_life", "public_health_or_child_welfare",
                     "cooperation_with_authority")
    assert get_args(LegalBasisCode) == CODES
    assert [LEGAL_BASES[c].article for c in CODES] == [f"第27条第1項第{n}号" for n in range(1, 5)]
    assert LEGAL_BASES["required_by_law"].name == "法令に基づく場合"


@pytest.mark.parametrize(("code", "statute", "has_reason", "missing"), [
    ("required_by_law", None, True, ["statute"]),
    ("protection_of_life", ABUSE_ACT, False, ["reason"]),
    ("public_health_or_child_welfare", None, False, ["reason"]),
    ("cooperation_with_authority", "  ", True, ["statute"]),
    ("cooperation_with_authority", None, False, ["statute", "reason"]),
])
def test_each_legal_basis_needs_its_own_justification(code, statute, has_reason, missing):
    with pytest.raises(InvalidLegalBasis) as refused:
        check_legal_basis(code, statute=statute, has_reason=has_reason)
    assert refused.value.extensions["missing"] == missing and refused.value.status == 422


def test_an_unknown_legal_basis_is_refused():
    with pytest.raises(InvalidLegalBasis):
        check_legal_basis("because_we_said_so", statute=ABUSE_ACT, has_reason=True)


def test_a_notification_required_by_law_is_recorded_with_its_statute_and_no_consent():
    case = _case()
    assert _share(case, legal_basis="required_by_law", statute=SEALED_STATUTE) == "required_by_law"
    disclosed = case.collect_events()[-1]
    assert type(disclosed).__name__ == "CaseInfoDisclosed"
    assert isinstance(disclosed, Case.CaseInfoDisclosed)
    assert (disclosed.consent_id, disclosed.legal_basis, disclosed.statute, disclosed.reason) == (
        None, "required_by_law", SEALED_STATUTE, None)


def test_an_emergency_provision_carries_the_sealed_reason_consent_could_not_be_obtained():
    case = _case()
    _share(case, legal_basis="protection_of_life", reason=SEALED_REASON)
    disclosed = case.collect_events()[-1]
    assert isinstance(disclosed, Case.CaseInfoDisclosed)
    assert (disclosed.legal_basis, disclosed.reason) == ("protection_of_life", SEALED_REASON)


def test_without_a_consent_or_a_legal_basis_the_provision_is_still_refused():
    case = _case()
    with pytest.raises(ConsentMissing):
        _share(case)
    with pytest.raises(InvalidLegalBasis):
        _share(case, legal_basis="protection_of_life")  # no reason: the basis does not stand
    assert case.disclosures == 0


def test_the_persons_suspension_of_use_stops_consent_based_sharing_but_not_a_legal_duty():
    case = _case()
    case.consent_to_share(consent_id=uuid4(), given_by="legal_guardian", agency_ids=[],
                          categories=["child_guidance_centre"], items=["name", "address"], explained_on=DAY,
                          consent_text_version="v")
    case.suspend_use(suspended_on=DAY)
    with pytest.raises(UseIsSuspended):
        _share(case)
    assert _share(case, legal_basis="required_by_law", statute=SEALED_STATUTE) == "required_by_law"


def test_a_referral_may_rest_on_a_legal_basis():
    case = _case()
    case.refer(referral_id=uuid4(), agency_id=uuid4(), category="child_guidance_centre", items=["name"],
               referred_on=DAY, legal_basis="public_health_or_child_welfare", reason=SEALED_REASON)
    names = [type(e).__name__ for e in case.collect_events()]
    assert names[-2:] == ["CaseInfoDisclosed", "ReferralMade"] and len(case.referrals) == 1


def test_a_sealed_statute_counts_as_given_and_a_blank_citation_does_not():
    assert check_legal_basis("required_by_law", statute=SEALED_STATUTE, has_reason=False).code == "required_by_law"
    with pytest.raises(InvalidLegalBasis):
        check_legal_basis("required_by_law", statute={}, has_reason=False)


# -- the statute is a code with its conditions (issue 14: {"statute": "x", "reason": "x"} passed) --

def test_every_statute_is_a_code_with_its_bases_recipients_and_age_groups():
    assert get_args(StatuteCode) == STATUTE_CODES
    for statute in STATUTES.values():
        assert statute.bases and set(statute.bases) <= {"required_by_law", "cooperation_with_authority"}
        assert statute.recipients and all(r in agencies.BY_CODE for r in statute.recipients)
        assert set(statute.age_groups) <= {"child", "adult"} and statute.citation


@pytest.mark.parametrize(("code", "statute", "category", "age_group"), [
    ("cooperation_with_authority", "x", "hello_work", "adult"),  # what the attack sent: any text passed
    ("required_by_law", "児童虐待の防止等に関する法律 第6条第1項", "child_guidance_centre", "child"),  # a citation
    ("required_by_law", ABUSE_ACT, "hello_work", "child"),  # not a recipient of that notification
    ("required_by_law", ABUSE_ACT, "child_guidance_centre", "adult"),  # an adult's data under a child's law
    ("cooperation_with_authority", ABUSE_ACT, "child_guidance_centre", "child"),  # a basis it does not found
    ("protection_of_life", "self_reliance_support_council", "welfare_office", "adult"),  # that basis has none
])
def test_a_statute_outside_the_code_list_or_its_conditions_is_refused(code, statute, category, age_group):
    with pytest.raises(InvalidLegalBasis) as refused:
        check_legal_basis(code, statute=statute, has_reason=True, recipient_category=category, age_group=age_group)
    assert refused.value.status == 422 and refused.value.problem == "invalid-legal-basis"


def test_a_statute_within_its_conditions_founds_the_provision():
    assert check_legal_basis("required_by_law", statute=ABUSE_ACT, has_reason=False,
                             recipient_category="child_guidance_centre", age_group="child").code == "required_by_law"
    assert check_legal_basis("cooperation_with_authority", statute="self_reliance_support_council", has_reason=True,
                             recipient_category="self_reliance_support", age_group="adult")


def test_the_use_case_refuses_a_free_text_statute_and_a_recipient_the_statute_does_not_name():
    from services.intake.tests.world import ACTORS, AGENCY, CASE, DAY, intake_world

    with intake_world() as app:  # AGENCY is a hello_work; CASE is an adult's
        before: int = app.repository.get(CASE).version
        for stated in ({"code": "cooperation_with_authority", "statute": "x", "reason": "x"},
                       {"code": "cooperation_with_authority", "statute": "self_reliance_support_council",
                        "reason": "支援会議"}):
            with pytest.raises(InvalidLegalBasis):
                app.share_with_agency(ACTORS["centre staff"], CASE, agency_id=AGENCY, items=["name"], on=DAY,
                                      purpose="other", legal_basis=stated)
        assert app.repository.get(CASE).version == before
