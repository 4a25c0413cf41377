"""A supporter's application, consent, screening and registration (資料3, 資料4, 第6条〜第9条), and
when they are current (may go on a roster), without a database."""

from __future__ import annotations

from datetime import date, timedelta
from uuid import uuid4

import pytest

from libs.domain import registry
from libs.domain.errors import InvalidInput
from services.registry.domain.errors import (
    ConsentMissing,
    InvalidDates,
    TermTooLong,
    WrongStatus,
)
from services.registry.domain.registrar import TERM_LIMIT_YEARS
from services.registry.domain.supporter import CONSENT_PURPOSE, term_end
from services.registry.tests.builders import (
    APPLIED_ON,
    BUILDERS,
    ISSUED_ON,
    TOKYO,
    _all_consent,
    _applied,
    _apply,
    _names,
    _of,
    _registered,
)

# -- supporter: application and consent (資料3, 資料4) ------------------------------------------

def test_applying_with_all_five_consent_items_records_the_application_then_the_consent() -> None:
    supporter_id, consent_id = uuid4(), uuid4()
    supporter = _apply(id=supporter_id, consent_id=consent_id)
    events = supporter.collect_events()
    assert _names(events) == ["RegistrationApplied", "RegistrationConsented"]
    applied, consented = events
    assert isinstance(applied, registry.RegistrationApplied)
    assert isinstance(consented, registry.RegistrationConsented)
    assert applied.originator_id == supporter_id
    assert (applied.tenant, applied.certificate_number, applied.applied_on) == (
        TOKYO, "2016-0001", APPLIED_ON)
    assert consented.consent_id == consent_id
    assert consented.items == list(registry.CONSENT_ITEMS)
    assert (consented.consent_text_version, consented.signed_on, consented.purpose) == (
        "資料4-v1", APPLIED_ON, CONSENT_PURPOSE)
    assert (supporter.status, supporter.consent_id, supporter.consent_active) == ("applied", consent_id, True)


@pytest.mark.parametrize("item", registry.CONSENT_ITEMS)
def test_an_application_with_any_one_consent_item_false_is_refused(item: str) -> None:
    items = _all_consent() | {item: False}
    with pytest.raises(ConsentMissing) as raised:
        _apply(consent_items=items)
    assert raised.value.extensions["missing"] == [item]


@pytest.mark.parametrize("item", registry.CONSENT_ITEMS)
def test_an_application_with_any_one_consent_item_absent_is_refused(item: str) -> None:
    items = {k: v for k, v in _all_consent().items() if k != item}
    with pytest.raises(ConsentMissing) as raised:
        _apply(consent_items=items)
    assert raised.value.extensions["missing"] == [item]


def test_missing_consent_items_are_listed_in_the_forms_order() -> None:
    items = {"continuing_training": True, "follow_instructions": True, "confidentiality": False}
    with pytest.raises(ConsentMissing) as raised:
        _apply(consent_items=items)
    assert raised.value.extensions["missing"] == [
        "roster_listing", "confidentiality", "no_discrediting_conduct"]


def test_an_application_with_no_consent_at_all_lists_all_five_items() -> None:
    with pytest.raises(ConsentMissing) as raised:
        _apply(consent_items={})
    assert raised.value.extensions["missing"] == list(registry.CONSENT_ITEMS)


def test_only_a_literal_true_counts_as_consent() -> None:
    items = _all_consent() | {"roster_listing": "yes", "confidentiality": 1}
    with pytest.raises(ConsentMissing) as raised:
        _apply(consent_items=items)
    assert raised.value.extensions["missing"] == ["roster_listing", "confidentiality"]


def test_a_consent_refusal_is_an_invalid_input_problem() -> None:
    with pytest.raises(InvalidInput) as raised:
        _apply(consent_items={})
    assert raised.value.problem == "consent-missing"


# -- supporter: screening and registration (第6条2, 第7条, 第9条) --------------------------------

def test_a_screening_after_the_application_is_recorded() -> None:
    supporter = _applied()
    supporter.record_screening(kind="interview", held_on=APPLIED_ON, note=None)
    assert _names(supporter.collect_events()) == ["ScreeningRecorded"]
    assert supporter.screenings == [("interview", APPLIED_ON)]


def test_a_screening_before_the_application_or_of_an_unknown_kind_is_refused() -> None:
    supporter = _applied()
    with pytest.raises(InvalidDates):
        supporter.record_screening(kind="lecture", held_on=APPLIED_ON - timedelta(days=1), note=None)
    with pytest.raises(InvalidInput):
        supporter.record_screening(kind="exam", held_on=APPLIED_ON, note=None)
    assert supporter.collect_events() == []


def test_registration_issues_a_term_that_ends_the_day_before_the_anniversary() -> None:
    supporter = _applied()
    supporter.register(registration_number="001", issued_on=date(2016, 7, 1), term_years=2, max_term_years=3)
    events = _of(registry.SupporterRegistered, supporter.collect_events())
    assert _names(events) == ["SupporterRegistered"]
    assert (events[0].registration_number, events[0].issued_on, events[0].term_starts_on,
            events[0].term_ends_on) == ("001", date(2016, 7, 1), date(2016, 7, 1), date(2018, 6, 30))
    assert (supporter.status, supporter.registration_number, supporter.term_starts_on,
            supporter.term_ends_on) == ("registered", "001", date(2016, 7, 1), date(2018, 6, 30))


def test_a_term_issued_on_29_february_ends_at_the_end_of_february_one_year_later() -> None:
    # 民法第143条2項ただし書: no 29 February in 2017, so the term ends at the end of that month.
    supporter = _apply(applied_on=date(2016, 2, 1), signed_on=date(2016, 2, 1))
    supporter.register(registration_number="001", issued_on=date(2016, 2, 29), term_years=1,
                       max_term_years=3)
    assert supporter.term_ends_on == date(2017, 2, 28)
    assert term_end(date(2016, 2, 29), 1) == date(2017, 2, 28)


def test_a_term_issued_on_29_february_four_years_on_ends_on_28_february() -> None:
    assert term_end(date(2016, 2, 29), 4) == date(2020, 2, 28)


@pytest.mark.parametrize("issued_on", [
    date(2016, 1, 1), date(2016, 2, 28), date(2016, 2, 29), date(2016, 3, 1), date(2016, 7, 1),
    date(2016, 12, 31), date(2017, 2, 28), date(2017, 3, 1), date(2019, 2, 28), date(2019, 3, 1),
])
@pytest.mark.parametrize("years", range(1, TERM_LIMIT_YEARS + 1))
def test_a_term_never_exceeds_its_number_of_years(issued_on: date, years: int) -> None:
    # The first day N years on that is no longer within "N years from the issue date".
    try:
        anniversary = issued_on.replace(year=issued_on.year + years)
    except ValueError:  # 29 February: the anniversary falls on 1 March
        anniversary = date(issued_on.year + years, 3, 1)
    end = term_end(issued_on, years)
    assert end < anniversary
    assert anniversary - end <= timedelta(days=2)  # and it falls short by at most the leap day


def test_registration_over_the_registrars_maximum_term_is_refused() -> None:
    supporter = _applied()
    with pytest.raises(TermTooLong) as raised:
        supporter.register(registration_number="001", issued_on=ISSUED_ON, term_years=4, max_term_years=3)
    assert raised.value.extensions["max_term_years"] == 3
    assert supporter.collect_events() == []
    assert supporter.status == "applied"


def test_registration_at_exactly_the_maximum_term_is_allowed() -> None:
    supporter = _applied()
    supporter.register(registration_number="001", issued_on=ISSUED_ON, term_years=3, max_term_years=3)
    assert supporter.term_ends_on == date(2019, 6, 30)


def test_registration_for_a_term_of_zero_years_is_refused() -> None:
    with pytest.raises(TermTooLong):
        _applied().register(registration_number="001", issued_on=ISSUED_ON, term_years=0, max_term_years=3)


def test_registration_issued_before_the_application_is_refused() -> None:
    supporter = _applied()
    with pytest.raises(InvalidDates):
        supporter.register(registration_number="001", issued_on=APPLIED_ON - timedelta(days=1),
                           term_years=2, max_term_years=3)
    assert supporter.collect_events() == []


def test_registration_issued_on_the_application_day_is_allowed() -> None:
    supporter = _applied()
    supporter.register(registration_number="001", issued_on=APPLIED_ON, term_years=2, max_term_years=3)
    assert supporter.status == "registered"


def test_approval_after_the_consent_was_withdrawn_is_refused() -> None:
    supporter = _applied()
    supporter.withdraw_consent(withdrawn_on=date(2016, 6, 15))
    assert _names(supporter.collect_events()) == ["RegistrationConsentWithdrawn"]
    with pytest.raises(ConsentMissing) as raised:
        supporter.register(registration_number="001", issued_on=ISSUED_ON, term_years=2, max_term_years=3)
    assert raised.value.extensions["missing"] == list(registry.CONSENT_ITEMS)
    with pytest.raises(ConsentMissing):
        supporter.check_approval(issued_on=ISSUED_ON, term_years=2, max_term_years=3)
    assert supporter.collect_events() == []


def test_withdrawing_the_consent_records_which_consent_and_cannot_be_done_twice() -> None:
    supporter = _registered()
    consent_id = supporter.consent_id
    supporter.withdraw_consent(withdrawn_on=date(2017, 1, 1))
    events = _of(registry.RegistrationConsentWithdrawn, supporter.collect_events())
    assert (events[0].consent_id, events[0].withdrawn_on) == (consent_id, date(2017, 1, 1))
    assert supporter.consent_active is False
    with pytest.raises(WrongStatus):
        supporter.withdraw_consent(withdrawn_on=date(2017, 1, 2))


def test_a_refusal_ends_the_application() -> None:
    supporter = _applied()
    supporter.refuse(refused_on=date(2016, 6, 20), reason={"sealed": "x"})
    assert _names(supporter.collect_events()) == ["RegistrationRefused"]
    assert supporter.status == "refused"


def test_details_can_change_while_registered_and_the_field_names_are_sorted() -> None:
    supporter = _registered()
    supporter.change_details(changed_fields=["contact", "address"], changes={"sealed": "x"},
                             changed_on=date(2017, 1, 1))
    events = _of(registry.SupporterDetailsChanged, supporter.collect_events())
    assert _names(events) == ["SupporterDetailsChanged"]
    assert events[0].changed_fields == ["address", "contact"]


def test_a_change_of_nothing_is_refused() -> None:
    with pytest.raises(InvalidInput):
        _registered().change_details(changed_fields=[], changes={}, changed_on=date(2017, 1, 1))


def test_a_registered_supporter_attends_continuing_training() -> None:
    supporter = _registered()
    course_id = uuid4()
    supporter.attend_continuing_training(course_id=course_id, attended_on=date(2017, 2, 1))
    assert _names(supporter.collect_events()) == ["ContinuingTrainingAttended"]
    assert supporter.continuing_trainings == [(course_id, date(2017, 2, 1))]


# -- supporter: is_current ------------------------------------------------------------------

def test_a_registered_supporter_is_current_from_the_first_to_the_last_day_of_the_term() -> None:
    supporter = _registered()
    assert supporter.is_current(date(2016, 7, 1))
    assert supporter.is_current(date(2017, 7, 1))
    assert supporter.is_current(date(2018, 6, 30))


def test_a_supporter_is_not_current_before_the_term_starts() -> None:
    assert not _registered().is_current(date(2016, 6, 30))


def test_a_supporter_is_not_current_after_the_term_ends_even_before_the_expiry_is_recorded() -> None:
    supporter = _registered()
    assert supporter.status == "registered"
    assert not supporter.is_current(date(2018, 7, 1))


def test_a_supporter_is_not_current_after_withdrawing_the_consent() -> None:
    supporter = _registered()
    supporter.withdraw_consent(withdrawn_on=date(2017, 1, 1))
    assert supporter.status == "registered"
    assert not supporter.is_current(date(2017, 1, 2))


@pytest.mark.parametrize("status", ["applied", "refused", "expired", "withdrawn", "revoked"])
def test_a_supporter_who_is_not_registered_is_not_current(status: str) -> None:
    assert not BUILDERS[status]().is_current(date(2017, 1, 15))
