"""Roster entries (名簿管理): received from the registrar, usable once the municipality reconfirms
the supporter's intent (活動する意向を再度確認), until the registration or its term ends.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from libs.domain import dispatch as contracts
from services.dispatch.domain.errors import InvalidDispatchInput
from services.dispatch.domain.roster_entry import RosterEntry
from services.dispatch.tests.builders import (
    ACTIVITY_DAY,
    CHIYODA,
    MINATO,
    _active,
    _names,
    _the,
)

# -- roster entries (名簿管理: 活動する意向を再度確認) -------------------------------------------

ROSTER_DAY = date(2017, 4, 1)
TERM_ENDS_ON = date(2018, 6, 30)


def _receive(supporter_id: UUID | None = None, **overrides: Any) -> RosterEntry:
    arguments: dict[str, Any] = {
        "tenant": CHIYODA, "supporter_id": supporter_id or uuid4(), "registrar": "130001", "roster_id": uuid4(),
        "registration_number": "2016-001", "term_ends_on": TERM_ENDS_ON, "consent_id": uuid4(),
        "received_on": ROSTER_DAY,
    }
    arguments.update(overrides)
    return RosterEntry.receive(**arguments)


def _eligible_entry() -> RosterEntry:
    entry = _receive()
    entry.reconfirm_intent(confirmed_on=ROSTER_DAY)
    entry.collect_events()
    return entry


def test_receiving_a_roster_entry_records_its_receipt() -> None:
    supporter_id = uuid4()
    entry = _receive(supporter_id)
    events = entry.collect_events()
    assert _names(events) == ["RosterReceived"]
    assert _the(contracts.RosterReceived, events[0]).registrar == "130001"
    assert entry.id == RosterEntry.id_for(CHIYODA, supporter_id)
    assert (entry.supporter_id, entry.term_ends_on, entry.ended) == (supporter_id, TERM_ENDS_ON, None)


def test_a_received_supporter_is_not_eligible_until_the_municipality_reconfirms_the_intent() -> None:
    entry = _receive()
    problems = entry.eligibility_problems(ROSTER_DAY)
    assert len(problems) == 1
    assert "intent" in problems[0] and "re-confirmed" in problems[0]


def test_after_reconfirming_the_intent_the_supporter_is_eligible_until_the_term_ends() -> None:
    entry = _receive()
    entry.collect_events()
    entry.reconfirm_intent(confirmed_on=ROSTER_DAY)
    assert _names(entry.collect_events()) == ["SupporterIntentReconfirmed"]
    assert entry.intent_reconfirmed_on == ROSTER_DAY
    assert entry.eligibility_problems(ROSTER_DAY) == []
    assert entry.eligibility_problems(TERM_ENDS_ON) == []


def test_after_the_term_ended_the_supporter_is_not_eligible() -> None:
    entry = _eligible_entry()
    problems = entry.eligibility_problems(date(2018, 7, 1))
    assert problems == [f"registration term ended on {TERM_ENDS_ON}"]


def test_ending_the_registration_records_once_and_makes_the_supporter_ineligible() -> None:
    entry = _eligible_entry()
    assert entry.end_registration(reason="revoked", effective_on=date(2017, 8, 1), cause_event_id="e1") is True
    events = entry.collect_events()
    assert _names(events) == ["SupporterRegistrationEnded"]
    ended = _the(contracts.SupporterRegistrationEnded, events[0])
    assert (ended.reason, ended.cause_event_id) == ("revoked", "e1")
    assert entry.eligibility_problems(date(2017, 8, 1)) == ["registration ended (revoked)"]
    assert entry.end_registration(reason="withdrawn", effective_on=date(2017, 8, 2), cause_event_id="e2") is False
    assert entry.collect_events() == []
    assert entry.ended == "revoked"


def test_a_new_roster_provision_clears_the_ended_state() -> None:
    entry = _eligible_entry()
    entry.end_registration(reason="expired", effective_on=TERM_ENDS_ON, cause_event_id="e1")
    entry.collect_events()
    new_roster, new_consent, new_term = uuid4(), uuid4(), date(2020, 6, 30)
    entry.refresh(roster_id=new_roster, registration_number="2018-007", term_ends_on=new_term,
                  consent_id=new_consent, received_on=date(2018, 7, 10))
    events = entry.collect_events()
    assert _names(events) == ["RosterEntryRefreshed"]
    assert entry.ended is None
    assert (entry.roster_id, entry.registration_number, entry.term_ends_on, entry.consent_id) == (
        new_roster, "2018-007", new_term, new_consent)
    assert entry.eligibility_problems(date(2018, 7, 10)) == []


def test_the_same_roster_provision_received_again_records_nothing() -> None:
    entry = _eligible_entry()
    entry.refresh(roster_id=entry.roster_id, registration_number="2016-001", term_ends_on=date(2030, 1, 1),
                  consent_id=uuid4(), received_on=date(2017, 5, 1))
    assert entry.collect_events() == []
    assert entry.term_ends_on == TERM_ENDS_ON


def test_renewing_the_term_records_the_new_end_and_the_same_date_records_nothing() -> None:
    entry = _eligible_entry()
    entry.renew_term(term_ends_on=TERM_ENDS_ON)
    assert entry.collect_events() == []
    new_term = date(2020, 6, 30)
    entry.renew_term(term_ends_on=new_term)
    events = entry.collect_events()
    assert _names(events) == ["SupporterTermRenewed"]
    assert entry.term_ends_on == new_term
    assert entry.eligibility_problems(date(2019, 1, 1)) == []
    entry.renew_term(term_ends_on=new_term)
    assert entry.collect_events() == []


def test_the_roster_entry_id_is_deterministic_per_municipality_and_supporter() -> None:
    supporter_id, other = uuid4(), uuid4()
    assert RosterEntry.id_for(CHIYODA, supporter_id) == RosterEntry.id_for(CHIYODA, supporter_id)
    assert RosterEntry.id_for(CHIYODA, supporter_id) == RosterEntry.id_for(CHIYODA, str(supporter_id))
    assert RosterEntry.id_for(CHIYODA, supporter_id) != RosterEntry.id_for(MINATO, supporter_id)
    assert RosterEntry.id_for(CHIYODA, supporter_id) != RosterEntry.id_for(CHIYODA, other)
    assert _receive(supporter_id).id == _receive(supporter_id, roster_id=uuid4()).id


def test_a_suspension_reason_is_a_code_and_free_text_goes_to_the_sealed_note() -> None:
    dispatch, _ = _active()
    with pytest.raises(InvalidDispatchInput):
        dispatch.suspend(reason="入院のため", suspended_on=ACTIVITY_DAY)
    assert dispatch.status == "active"
    dispatch.suspend(reason="subject_condition", suspended_on=ACTIVITY_DAY, note={"sealed": "入院"})
    assert dispatch.status == "suspended"
