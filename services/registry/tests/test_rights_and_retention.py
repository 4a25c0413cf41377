"""The supporter's rights over their data (利用停止・訂正) and the end of its retention."""

from __future__ import annotations

from datetime import date

import pytest

from libs.domain.errors import DataErased
from services.registry.domain.errors import WrongStatus
from services.registry.tests.builders import _applied, _expired, _registered, _withdrawn


def test_a_suspended_supporter_is_not_current_for_a_roster_until_use_resumes():
    supporter = _registered()
    day = date(2016, 8, 1)
    assert supporter.is_current(day)
    supporter.suspend_use(suspended_on=day)
    assert not supporter.is_current(day)
    with pytest.raises(WrongStatus):
        supporter.suspend_use(suspended_on=day)
    supporter.resume_use(resumed_on=day)
    assert supporter.is_current(day)
    assert [type(e).__name__ for e in supporter.collect_events()] == ["SupporterUseSuspended", "SupporterUseResumed"]


def test_use_resumes_only_when_suspended():
    with pytest.raises(WrongStatus):
        _registered().resume_use(resumed_on=date(2016, 8, 1))


def test_details_kept_after_the_registration_ended_can_still_be_corrected_but_not_once_erased():
    supporter = _withdrawn()
    supporter.change_details(changed_fields=["address"], changes={"sealed": "x"}, changed_on=date(2017, 2, 1))
    supporter.erase(erased_on=date(2017, 3, 1), basis="request_granted")
    with pytest.raises(DataErased):  # 410, the subject was erased
        supporter.change_details(changed_fields=["address"], changes={"sealed": "y"}, changed_on=date(2017, 4, 1))
    with pytest.raises(DataErased):
        supporter.suspend_use(suspended_on=date(2017, 4, 1))


def test_retention_ends_three_years_after_the_registration_ended_and_never_earlier():
    withdrawn = _withdrawn()  # withdrew on 2017-01-10
    assert withdrawn.ended_on == date(2017, 1, 10)
    assert not withdrawn.retention_ended(date(2020, 1, 10), 3)
    assert withdrawn.retention_ended(date(2020, 1, 11), 3)
    assert not _registered().retention_ended(date(2030, 1, 1), 3)
    assert not _applied().retention_ended(date(2030, 1, 1), 3)
    withdrawn.erase(erased_on=date(2020, 1, 11), basis="retention_ended")
    assert not withdrawn.retention_ended(date(2030, 1, 1), 3)  # once


def test_an_expired_registration_counts_from_its_term_end_and_a_renewal_restarts_it():
    expired = _expired()
    assert expired.ended_on == expired.term_ends_on
    assert expired.consent_id is not None
    expired.renew(consent_id=expired.consent_id, consent_items=dict.fromkeys((
                      "roster_listing", "follow_instructions", "confidentiality", "no_discrediting_conduct",
                      "continuing_training"), True),
                  consent_text_version="v", issued_on=date(2018, 7, 2), term_years=1, max_term_years=3)
    assert expired.ended_on is None and not expired.retention_ended(date(2030, 1, 1), 3)


def test_an_erased_supporter_cannot_be_renewed():
    expired = _expired()
    expired.erase(erased_on=date(2018, 7, 2), basis="request_granted")
    assert expired.consent_id is not None
    with pytest.raises(WrongStatus):
        expired.renew(consent_id=expired.consent_id, consent_items={}, consent_text_version="v",
                      issued_on=date(2018, 7, 2), term_years=1, max_term_years=3)
