"""The person's consent (資料7), the plan, and what is disclosed to the supporter: only the
consented items, to the assigned supporter, while the dispatch runs, each time recorded.
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from libs.domain import dispatch as contracts
from services.dispatch.domain.errors import (
    ConsentMissing,
    DispatchNotActive,
    InvalidDispatchInput,
    WrongDispatchStatus,
)
from services.dispatch.tests.builders import (
    ACTIVITY_DAY,
    AT,
    REQUESTED_ON,
    SIGNED_ON,
    _active,
    _consent,
    _names,
    _ready,
    _requested,
    _suspended,
    _the,
)

# -- the person's consent (資料7) -------------------------------------------------------------

def test_the_persons_consent_is_recorded_with_its_items() -> None:
    dispatch = _requested()
    consent_id = _consent(dispatch, items=["name", "medical_history"], support_meetings=False)
    events = dispatch.collect_events()
    assert _names(events) == ["SubjectConsented"]
    consented = _the(contracts.SubjectConsented, events[0])
    assert consented.consent_id == consent_id
    assert consented.items == ["name", "medical_history"]
    assert consented.support_meetings is False and consented.costs_self_paid is True
    assert dispatch.consent == {"consent_id": consent_id, "items": ["name", "medical_history"],
                                "costs_self_paid": True, "support_meetings": False}


def test_consent_to_an_unknown_item_is_refused() -> None:
    dispatch = _requested()
    with pytest.raises(InvalidDispatchInput) as excinfo:
        _consent(dispatch, items=["name", "bank_account"])
    assert "bank_account" in str(excinfo.value)
    assert excinfo.value.extensions["allowed"] == list(contracts.DISCLOSURE_ITEMS)
    assert dispatch.consent is None
    assert dispatch.collect_events() == []


def test_consented_items_are_stored_in_the_order_of_the_form_whatever_order_they_came_in() -> None:
    dispatch = _requested()
    _consent(dispatch, items=["medical_history", "contact", "name", "life_history", "gender"])
    expected = ["name", "gender", "contact", "life_history", "medical_history"]
    assert dispatch.consent is not None
    assert dispatch.consent["items"] == expected
    assert _the(contracts.SubjectConsented, dispatch.collect_events()[0]).items == expected


def test_consent_to_every_item_follows_the_form_order() -> None:
    dispatch = _requested()
    _consent(dispatch, items=list(reversed(contracts.DISCLOSURE_ITEMS)))
    assert dispatch.consent is not None
    assert dispatch.consent["items"] == list(contracts.DISCLOSURE_ITEMS)


@pytest.mark.parametrize("given_by", ["person", "legal_guardian"])
def test_consent_may_be_given_by_the_person_or_a_legal_guardian(given_by: str) -> None:
    dispatch = _requested()
    _consent(dispatch, given_by=given_by)
    assert _the(contracts.SubjectConsented, dispatch.collect_events()[0]).given_by == given_by


@pytest.mark.parametrize("given_by", ["family", "supporter", "municipal_officer", ""])
def test_consent_given_by_anyone_else_is_refused(given_by: str) -> None:
    dispatch = _requested()
    with pytest.raises(InvalidDispatchInput):
        _consent(dispatch, given_by=given_by)
    assert dispatch.consent is None
    assert dispatch.collect_events() == []


def test_consent_cannot_be_recorded_on_an_ended_dispatch() -> None:
    dispatch = _requested()
    dispatch.end(reason="other", ended_on=REQUESTED_ON)
    with pytest.raises(WrongDispatchStatus):
        _consent(dispatch)


# -- the plan ---------------------------------------------------------------------------------

def test_a_plan_needs_at_least_one_known_activity() -> None:
    dispatch = _requested()
    with pytest.raises(InvalidDispatchInput):
        dispatch.agree_plan(activities=[], plan={}, agreed_on=SIGNED_ON)
    with pytest.raises(InvalidDispatchInput):
        dispatch.agree_plan(activities=["visit", "phone_call"], plan={}, agreed_on=SIGNED_ON)
    assert dispatch.plan_agreed is False
    assert dispatch.collect_events() == []


# -- disclosure to the supporter --------------------------------------------------------------

def test_the_assigned_supporter_receives_the_consented_items_and_each_disclosure_is_recorded() -> None:
    dispatch, supporter_id = _active()
    assert dispatch.consent is not None
    consent_id = dispatch.consent["consent_id"]
    assert dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT) == [
        "name", "contact", "consultation"]
    events = dispatch.collect_events()
    assert _names(events) == ["InformationDisclosed"]
    disclosed = _the(contracts.InformationDisclosed, events[0])
    assert disclosed.recipient_supporter_id == supporter_id
    assert disclosed.items == ["name", "contact", "consultation"]
    assert disclosed.consent_id == consent_id
    assert disclosed.disclosed_at == AT


def test_two_disclosures_are_two_recorded_events() -> None:
    dispatch, supporter_id = _active()
    dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT)
    dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT)
    assert _names(dispatch.collect_events()) == ["InformationDisclosed", "InformationDisclosed"]
    assert dispatch.disclosures == 2


def test_disclosure_rests_on_the_latest_consent() -> None:
    dispatch, supporter_id = _active()
    new_consent = _consent(dispatch, items=["name"])
    dispatch.collect_events()
    assert dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT) == ["name"]
    assert _the(contracts.InformationDisclosed, dispatch.collect_events()[0]).consent_id == new_consent


def test_no_one_but_the_assigned_supporter_receives_the_persons_information() -> None:
    dispatch, _ = _active()
    with pytest.raises(WrongDispatchStatus):
        dispatch.disclose_to_supporter(supporter_id=uuid4(), disclosed_at=AT)
    assert dispatch.collect_events() == []


def test_nothing_is_disclosed_before_the_start() -> None:
    dispatch, supporter_id = _ready()
    with pytest.raises(DispatchNotActive):
        dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT)
    assert dispatch.collect_events() == []


def test_nothing_is_disclosed_while_the_dispatch_is_suspended() -> None:
    # Issue 14: the supporter read the person's details while the dispatch was suspended (休止).
    dispatch, supporter_id = _suspended()
    with pytest.raises(DispatchNotActive):
        dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT)
    assert dispatch.collect_events() == []


def test_empty_details_of_the_person_are_refused_and_record_nothing() -> None:
    # Issue 14: `subject_details: {}` published a SubjectDetailsRecorded the AsyncAPI schema refuses.
    dispatch = _requested()
    dispatch.collect_events()
    with pytest.raises(InvalidDispatchInput):
        dispatch.record_subject_details(details={})
    assert dispatch.collect_events() == []


def test_nothing_is_disclosed_after_the_end() -> None:
    dispatch, supporter_id = _active()
    dispatch.end(reason="plan_completed", ended_on=ACTIVITY_DAY)
    dispatch.collect_events()
    with pytest.raises(DispatchNotActive):
        dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT)
    assert dispatch.collect_events() == []


def test_nothing_is_disclosed_when_the_person_consented_to_no_item() -> None:
    dispatch, supporter_id = _active()
    _consent(dispatch, items=[])
    dispatch.collect_events()
    with pytest.raises(ConsentMissing):
        dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT)
    assert dispatch.collect_events() == []


def test_nothing_is_disclosed_after_the_person_withdraws_consent() -> None:
    dispatch, supporter_id = _active()
    dispatch.withdraw_subject_consent(withdrawn_on=ACTIVITY_DAY)
    dispatch.collect_events()
    assert dispatch.consent is None
    # The withdrawal also ends the dispatch, so the status check answers first.
    with pytest.raises((ConsentMissing, DispatchNotActive)):
        dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT)
    assert dispatch.collect_events() == []
    assert dispatch.disclosures == 0
