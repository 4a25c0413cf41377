"""Registry domain rules (要綱例 第5条〜第17条, 資料3〜6), without a database.

Aggregates are plain objects: built with their classmethods, driven by commands, and inspected
through their state and `collect_events()`.
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID, uuid4

import pytest

from libs.domain import registry
from libs.domain.codes import InvalidLgCode
from libs.domain.errors import InvalidInput
from services.registry.domain.course import TrainingCourse
from services.registry.domain.errors import (
    ConsentMissing,
    InvalidDates,
    InvalidTraining,
    RevocationNotPrepared,
    TermTooLong,
    WrongStatus,
)
from services.registry.domain.registrar import (
    DEFAULT_CONSENT_TEXT,
    DEFAULT_MAX_TERM_YEARS,
    DEFAULT_TERM_YEARS,
    TERM_LIMIT_YEARS,
    Registrar,
)
from services.registry.domain.roster import RosterProvision
from services.registry.domain.supporter import CONSENT_PURPOSE, Supporter, term_end

TOKYO = "130001"  # 東京都 (check digit 1)
CHIYODA = "131016"  # 千代田区 (check digit 6)
APPLIED_ON = date(2016, 6, 1)
ISSUED_ON = date(2016, 7, 1)


def _names(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


def _all_consent() -> dict[str, bool]:
    return {item: True for item in registry.CONSENT_ITEMS}


# -- builders -------------------------------------------------------------------------------

@pytest.fixture
def registrar() -> Registrar:
    registrar = Registrar.open(TOKYO)
    registrar.collect_events()
    return registrar


def _course(**overrides: object) -> TrainingCourse:
    arguments = dict(
        id=uuid4(), tenant=TOKYO, kind="initial", title="ひきこもりサポーター養成研修",
        starts_on=date(2016, 5, 10), ends_on=date(2016, 5, 31), venue="都庁第一本庁舎",
    )
    arguments.update(overrides)
    return TrainingCourse.schedule(**arguments)  # type: ignore[arg-type]


def _apply(**overrides: object) -> Supporter:
    arguments = dict(
        id=uuid4(), tenant=TOKYO, certificate_number="2016-0001", applied_on=APPLIED_ON,
        applicant={"sealed": "ciphertext"}, consent_id=uuid4(), consent_items=_all_consent(),
        consent_text_version="資料4-v1", signed_on=APPLIED_ON,
    )
    arguments.update(overrides)
    return Supporter.apply_for_registration(**arguments)  # type: ignore[arg-type]


def _applied() -> Supporter:
    supporter = _apply()
    supporter.collect_events()
    return supporter


def _registered(issued_on: date = ISSUED_ON, term_years: int = 2) -> Supporter:
    supporter = _applied()
    supporter.register(registration_number="001", issued_on=issued_on, term_years=term_years,
                       max_term_years=3)
    supporter.collect_events()
    return supporter


def _expired() -> Supporter:
    supporter = _registered()
    assert supporter.expire_if_due(date(2018, 7, 1))
    supporter.collect_events()
    return supporter


def _refused() -> Supporter:
    supporter = _applied()
    supporter.refuse(refused_on=date(2016, 6, 20), reason=None)
    supporter.collect_events()
    return supporter


def _withdrawn() -> Supporter:
    supporter = _registered()
    supporter.withdraw(withdrawn_on=date(2017, 1, 10), reason=None)
    supporter.collect_events()
    return supporter


def _revoked() -> Supporter:
    supporter = _registered()
    supporter.record_inquiry(kind="investigation", held_on=date(2017, 1, 5), findings=None)
    supporter.record_inquiry(kind="interview", held_on=date(2017, 1, 6), findings=None)
    supporter.revoke(revoked_on=date(2017, 1, 10), grounds={"sealed": "ciphertext"})
    supporter.collect_events()
    return supporter


def _renew(supporter: Supporter, **overrides: object) -> None:
    arguments = dict(
        consent_id=uuid4(), consent_items=_all_consent(), consent_text_version="資料4-v2",
        issued_on=date(2018, 7, 10), term_years=2, max_term_years=3,
    )
    arguments.update(overrides)
    supporter.renew(**arguments)  # type: ignore[arg-type]


# -- registrar: opening and settings --------------------------------------------------------

def test_opening_a_registrar_records_one_event_with_the_default_settings() -> None:
    registrar = Registrar.open(TOKYO)
    events = registrar.collect_events()
    assert _names(events) == ["RegistrarOpened"]
    assert registrar.id == Registrar.id_for(TOKYO)
    assert (registrar.tenant, registrar.max_term_years, registrar.default_term_years,
            registrar.consent_text_version) == (
        TOKYO, DEFAULT_MAX_TERM_YEARS, DEFAULT_TERM_YEARS, DEFAULT_CONSENT_TEXT)


def test_the_registrar_id_is_derived_from_the_tenant() -> None:
    assert Registrar.id_for(TOKYO) == Registrar.id_for(TOKYO)
    assert Registrar.id_for(TOKYO) != Registrar.id_for(CHIYODA)


@pytest.mark.parametrize("code", ["130002", "13000", "1300011", "abcdef", ""])
def test_a_registrar_cannot_be_opened_for_an_invalid_local_government_code(code: str) -> None:
    with pytest.raises(InvalidLgCode):
        Registrar.open(code)


def test_configuring_the_registrar_records_the_new_settings(registrar: Registrar) -> None:
    registrar.configure(max_term_years=5, default_term_years=3, consent_text_version=" 資料4-v2 ")
    events = registrar.collect_events()
    assert _names(events) == ["RegistrarConfigured"]
    assert (events[0].max_term_years, events[0].default_term_years, events[0].consent_text_version) == (
        5, 3, "資料4-v2")
    assert (registrar.max_term_years, registrar.default_term_years, registrar.consent_text_version) == (
        5, 3, "資料4-v2")


@pytest.mark.parametrize("max_years, default_years", [(1, 1), (TERM_LIMIT_YEARS, TERM_LIMIT_YEARS),
                                                      (TERM_LIMIT_YEARS, 1)])
def test_the_registrar_accepts_terms_at_the_bounds(registrar: Registrar, max_years: int,
                                                   default_years: int) -> None:
    registrar.configure(max_term_years=max_years, default_term_years=default_years,
                        consent_text_version="資料4-v1")
    assert registrar.max_term_years == max_years
    assert registrar.default_term_years == default_years


@pytest.mark.parametrize("max_years, default_years, text", [
    (0, 1, "資料4-v1"),  # max below 1
    (TERM_LIMIT_YEARS + 1, 1, "資料4-v1"),  # max over the sanity bound
    (3, 4, "資料4-v1"),  # default over max
    (3, 0, "資料4-v1"),  # default below 1
    (3, 2, ""),  # no consent text
    (3, 2, "   "),  # blank consent text
])
def test_a_bad_configuration_is_refused_and_records_nothing(registrar: Registrar, max_years: int,
                                                            default_years: int, text: str) -> None:
    with pytest.raises(InvalidInput):
        registrar.configure(max_term_years=max_years, default_term_years=default_years,
                            consent_text_version=text)
    assert registrar.collect_events() == []
    assert (registrar.max_term_years, registrar.default_term_years, registrar.consent_text_version) == (
        DEFAULT_MAX_TERM_YEARS, DEFAULT_TERM_YEARS, DEFAULT_CONSENT_TEXT)


# -- registrar: numbers ---------------------------------------------------------------------

def test_certificate_numbers_count_up_within_a_fiscal_year_and_restart_in_the_next(
        registrar: Registrar) -> None:
    first, second, third = uuid4(), uuid4(), uuid4()
    numbers = [
        registrar.allocate_certificate_number(2016, first),
        registrar.allocate_certificate_number(2016, second),
        registrar.allocate_certificate_number(2017, third),
    ]
    assert numbers == ["2016-0001", "2016-0002", "2017-0001"]
    events = registrar.collect_events()
    assert _names(events) == ["NumberAllocated"] * 3
    assert [(e.series, e.fy, e.number, e.allocated_to) for e in events] == [
        ("certificate", 2016, "2016-0001", first),
        ("certificate", 2016, "2016-0002", second),
        ("certificate", 2017, "2017-0001", third),
    ]
    assert registrar.certificates == {"2016-0001": first, "2016-0002": second, "2017-0001": third}


def test_certificate_numbers_never_repeat_within_a_fiscal_year_even_when_years_interleave(
        registrar: Registrar) -> None:
    numbers = [registrar.allocate_certificate_number(fy, uuid4())
               for fy in (2016, 2017, 2016, 2017, 2016)]
    assert numbers == ["2016-0001", "2017-0001", "2016-0002", "2017-0002", "2016-0003"]
    assert len(set(numbers)) == len(numbers)


def test_registration_numbers_count_up_across_fiscal_years_without_a_year_prefix(
        registrar: Registrar) -> None:
    registrar.allocate_certificate_number(2016, uuid4())
    first = registrar.allocate_registration_number(uuid4())
    registrar.allocate_certificate_number(2017, uuid4())
    second = registrar.allocate_registration_number(uuid4())
    assert (first, second) == ("001", "002")
    registrations = [e for e in registrar.collect_events() if e.series == "registration"]
    assert [(e.fy, e.number) for e in registrations] == [(None, "001"), (None, "002")]


def test_allocated_numbers_survive_replaying_the_registrars_events() -> None:
    registrar = Registrar.open(TOKYO)
    registrar.allocate_certificate_number(2016, uuid4())
    registrar.allocate_registration_number(uuid4())
    events = registrar.collect_events()
    replayed = None
    for e in events:
        replayed = e.mutate(replayed)
    assert replayed is not None
    assert replayed.allocate_certificate_number(2016, uuid4()) == "2016-0002"
    assert replayed.allocate_registration_number(uuid4()) == "002"


# -- training courses -----------------------------------------------------------------------

def test_scheduling_a_course_records_one_event_and_strips_the_title_and_venue() -> None:
    course = _course(title="  養成研修  ", venue="  都庁  ")
    events = course.collect_events()
    assert _names(events) == ["TrainingCourseScheduled"]
    assert (course.kind, course.title, course.venue, course.fy) == ("initial", "養成研修", "都庁", 2016)
    assert course.attendees == {} and course.completed == {}


def test_a_course_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidTraining):
        _course(kind="advanced")


def test_a_course_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidDates):
        _course(starts_on=date(2016, 5, 10), ends_on=date(2016, 5, 9))


def test_a_one_day_course_is_allowed() -> None:
    course = _course(starts_on=date(2016, 5, 10), ends_on=date(2016, 5, 10))
    assert course.starts_on == course.ends_on


@pytest.mark.parametrize("title", ["", "   "])
def test_a_course_without_a_title_is_refused(title: str) -> None:
    with pytest.raises(InvalidTraining):
        _course(title=title)


@pytest.mark.parametrize("starts_on, fy", [
    (date(2016, 4, 1), 2016),
    (date(2016, 12, 31), 2016),
    (date(2017, 1, 1), 2016),
    (date(2017, 3, 31), 2016),
    (date(2017, 4, 1), 2017),
])
def test_the_fiscal_year_of_a_course_runs_from_april_to_march(starts_on: date, fy: int) -> None:
    course = _course(starts_on=starts_on, ends_on=starts_on + timedelta(days=1))
    assert course.fy == fy


def test_a_course_spanning_new_year_in_march_belongs_to_the_fiscal_year_it_starts_in() -> None:
    assert _course(starts_on=date(2017, 3, 25), ends_on=date(2017, 4, 5)).fy == 2016


def test_attendance_on_the_first_and_last_day_of_the_course_is_recorded() -> None:
    course = _course()
    course.collect_events()
    first, last = uuid4(), uuid4()
    course.attend(trainee_id=first, attended_on=course.starts_on, trainee=None)
    course.attend(trainee_id=last, attended_on=course.ends_on, trainee={"sealed": "x"})
    assert _names(course.collect_events()) == ["TrainingAttended", "TrainingAttended"]
    assert course.attendees == {first: course.starts_on, last: course.ends_on}


@pytest.mark.parametrize("attended_on", [date(2016, 5, 9), date(2016, 6, 1)])
def test_attendance_outside_the_course_dates_is_refused(attended_on: date) -> None:
    course = _course()
    course.collect_events()
    with pytest.raises(InvalidDates):
        course.attend(trainee_id=uuid4(), attended_on=attended_on, trainee=None)
    assert course.collect_events() == []
    assert course.attendees == {}


def test_the_same_trainee_attending_twice_is_one_attendance() -> None:
    course = _course()
    course.collect_events()
    trainee = uuid4()
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 10), trainee=None)
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 11), trainee=None)
    events = course.collect_events()
    assert _names(events) == ["TrainingAttended"]
    assert course.attendees == {trainee: date(2016, 5, 10)}


def test_an_attendee_of_an_initial_course_completes_with_a_certificate_number() -> None:
    course = _course()
    trainee = uuid4()
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 10), trainee=None)
    course.collect_events()
    course.complete(trainee_id=trainee, certificate_number="2016-0001", completed_on=date(2016, 5, 31))
    events = course.collect_events()
    assert _names(events) == ["TrainingCompleted"]
    assert (events[0].trainee_id, events[0].certificate_number, events[0].completed_on) == (
        trainee, "2016-0001", date(2016, 5, 31))
    assert course.completed == {trainee: "2016-0001"}


def test_a_continuing_course_issues_no_certificate() -> None:
    course = _course(kind="continuing")
    trainee = uuid4()
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 10), trainee=None)
    course.collect_events()
    with pytest.raises(InvalidTraining):
        course.complete(trainee_id=trainee, certificate_number="2016-0001", completed_on=date(2016, 5, 31))
    assert course.collect_events() == []


def test_only_an_attendee_can_complete_a_course() -> None:
    course = _course()
    course.collect_events()
    with pytest.raises(InvalidTraining):
        course.check_completion(uuid4(), date(2016, 5, 31))
    with pytest.raises(InvalidTraining):
        course.complete(trainee_id=uuid4(), certificate_number="2016-0001", completed_on=date(2016, 5, 31))
    assert course.collect_events() == []


def test_a_trainee_completes_a_course_only_once() -> None:
    course = _course()
    trainee = uuid4()
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 10), trainee=None)
    course.complete(trainee_id=trainee, certificate_number="2016-0001", completed_on=date(2016, 5, 31))
    course.collect_events()
    with pytest.raises(InvalidTraining, match="2016-0001"):
        course.complete(trainee_id=trainee, certificate_number="2016-0002", completed_on=date(2016, 5, 31))
    assert course.collect_events() == []
    assert course.completed == {trainee: "2016-0001"}


def test_completion_before_the_course_started_is_refused() -> None:
    course = _course()
    trainee = uuid4()
    course.attend(trainee_id=trainee, attended_on=date(2016, 5, 10), trainee=None)
    with pytest.raises(InvalidDates):
        course.complete(trainee_id=trainee, certificate_number="2016-0001", completed_on=date(2016, 5, 9))


# -- supporter: application and consent (資料3, 資料4) ------------------------------------------

def test_applying_with_all_five_consent_items_records_the_application_then_the_consent() -> None:
    supporter_id, consent_id = uuid4(), uuid4()
    supporter = _apply(id=supporter_id, consent_id=consent_id)
    events = supporter.collect_events()
    assert _names(events) == ["RegistrationApplied", "RegistrationConsented"]
    applied, consented = events
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
    items = _all_consent() | {"roster_listing": "yes", "confidentiality": 1}  # type: ignore[dict-item]
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
    events = supporter.collect_events()
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
    events = supporter.collect_events()
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
    events = supporter.collect_events()
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


# -- supporter: status machine --------------------------------------------------------------

def _register(s: Supporter) -> None:
    s.register(registration_number="009", issued_on=date(2018, 7, 10), term_years=1, max_term_years=3)


def _check_approval(s: Supporter) -> None:
    s.check_approval(issued_on=date(2018, 7, 10), term_years=1, max_term_years=3)


def _screen(s: Supporter) -> None:
    s.record_screening(kind="interview", held_on=date(2018, 7, 10), note=None)


def _refuse(s: Supporter) -> None:
    s.refuse(refused_on=date(2018, 7, 10), reason=None)


def _change(s: Supporter) -> None:
    s.change_details(changed_fields=["address"], changes={}, changed_on=date(2018, 7, 10))


def _continuing(s: Supporter) -> None:
    s.attend_continuing_training(course_id=uuid4(), attended_on=date(2018, 7, 10))


def _withdraw(s: Supporter) -> None:
    s.withdraw(withdrawn_on=date(2018, 7, 10), reason=None)


def _inquire(s: Supporter) -> None:
    s.record_inquiry(kind="interview", held_on=date(2018, 7, 10), findings=None)


def _revoke(s: Supporter) -> None:
    s.revoke(revoked_on=date(2018, 7, 10), grounds={})


BUILDERS = {"applied": _applied, "registered": _registered, "expired": _expired, "refused": _refused,
            "withdrawn": _withdrawn, "revoked": _revoked}
COMMANDS = {"register": _register, "check_approval": _check_approval, "record_screening": _screen,
            "refuse": _refuse, "change_details": _change, "renew": _renew,
            "attend_continuing_training": _continuing, "withdraw": _withdraw, "record_inquiry": _inquire,
            "revoke": _revoke}
ALLOWED = {
    "register": {"applied"},
    "check_approval": {"applied"},
    "record_screening": {"applied"},
    "refuse": {"applied"},
    "change_details": set(BUILDERS),  # 訂正 (APPI 第34条) of details kept after the end, too (until erased)
    "renew": {"registered", "expired"},
    "attend_continuing_training": {"registered"},
    "withdraw": {"applied", "registered", "expired"},
    "record_inquiry": {"registered", "expired"},
    "revoke": {"registered", "expired"},
}
WRONG = [(command, status) for command in COMMANDS for status in BUILDERS
         if status not in ALLOWED[command]]


@pytest.mark.parametrize("command, status", WRONG)
def test_every_command_in_a_wrong_status_raises_wrong_status_and_records_nothing(command: str,
                                                                                 status: str) -> None:
    supporter = BUILDERS[status]()
    version = supporter.version
    with pytest.raises(WrongStatus) as raised:
        COMMANDS[command](supporter)
    assert raised.value.extensions["current_status"] == status
    assert raised.value.status == 409
    assert supporter.collect_events() == []
    assert (supporter.status, supporter.version) == (status, version)


def test_approving_twice_is_refused() -> None:
    supporter = _registered()
    with pytest.raises(WrongStatus):
        supporter.register(registration_number="002", issued_on=ISSUED_ON, term_years=2, max_term_years=3)
    assert supporter.registration_number == "001"


def test_refusing_after_registration_is_refused() -> None:
    with pytest.raises(WrongStatus):
        _refuse(_registered())


def test_renewing_an_application_is_refused() -> None:
    with pytest.raises(WrongStatus):
        _renew(_applied())


def test_withdrawing_after_revocation_is_refused() -> None:
    with pytest.raises(WrongStatus):
        _withdraw(_revoked())


# -- supporter: expiry and renewal (第9条) ---------------------------------------------------

def test_a_registration_does_not_expire_on_the_last_day_of_its_term() -> None:
    supporter = _registered()
    assert supporter.term_ends_on == date(2018, 6, 30)
    assert supporter.expire_if_due(date(2018, 6, 30)) is False
    assert supporter.expire_if_due(date(2017, 1, 1)) is False
    assert supporter.collect_events() == []
    assert supporter.status == "registered"


def test_a_registration_expires_once_the_day_after_its_term() -> None:
    supporter = _registered()
    assert supporter.expire_if_due(date(2018, 7, 1)) is True
    assert supporter.expire_if_due(date(2018, 7, 2)) is False
    assert supporter.expire_if_due(date(2020, 1, 1)) is False
    events = supporter.collect_events()
    assert _names(events) == ["RegistrationExpired"]
    assert events[0].term_ended_on == date(2018, 6, 30)
    assert supporter.status == "expired"


@pytest.mark.parametrize("status", ["applied", "refused", "withdrawn", "revoked"])
def test_only_a_registered_supporter_can_expire(status: str) -> None:
    supporter = BUILDERS[status]()
    assert supporter.expire_if_due(date(2030, 1, 1)) is False
    assert supporter.collect_events() == []


def test_renewing_an_expired_registration_reconfirms_the_consent_and_starts_a_new_term() -> None:
    supporter = _expired()
    old_consent = supporter.consent_id
    new_consent = uuid4()
    _renew(supporter, consent_id=new_consent, issued_on=date(2018, 7, 10), term_years=2)
    events = supporter.collect_events()
    assert _names(events) == ["RegistrationConsented", "RegistrationRenewed"]
    consented, renewed = events
    assert consented.consent_id == new_consent != old_consent
    assert consented.items == list(registry.CONSENT_ITEMS)
    assert (consented.consent_text_version, consented.signed_on) == ("資料4-v2", date(2018, 7, 10))
    assert (renewed.consent_id, renewed.issued_on, renewed.term_starts_on, renewed.term_ends_on) == (
        new_consent, date(2018, 7, 10), date(2018, 7, 10), date(2020, 7, 9))
    assert (supporter.status, supporter.consent_id, supporter.consent_active) == (
        "registered", new_consent, True)
    assert supporter.registration_number == "001"  # the 登録番号 is kept
    assert supporter.is_current(date(2019, 1, 1))


def test_renewing_before_expiry_is_allowed() -> None:
    supporter = _registered()
    _renew(supporter, issued_on=date(2018, 6, 1), term_years=3)
    assert supporter.status == "registered"
    assert supporter.term_ends_on == date(2021, 5, 31)


def test_renewing_restores_a_withdrawn_consent() -> None:
    supporter = _registered()
    supporter.withdraw_consent(withdrawn_on=date(2017, 1, 1))
    _renew(supporter, issued_on=date(2017, 2, 1))
    assert supporter.consent_active is True


def test_a_renewal_without_the_full_consent_is_refused() -> None:
    supporter = _expired()
    with pytest.raises(ConsentMissing) as raised:
        _renew(supporter, consent_items=_all_consent() | {"continuing_training": False})
    assert raised.value.extensions["missing"] == ["continuing_training"]
    assert supporter.collect_events() == []
    assert supporter.status == "expired"


def test_a_renewal_over_the_maximum_term_is_refused() -> None:
    supporter = _expired()
    with pytest.raises(TermTooLong):
        _renew(supporter, term_years=4, max_term_years=3)
    assert supporter.collect_events() == []


def test_a_renewal_issued_before_the_current_term_started_is_refused() -> None:
    supporter = _expired()
    with pytest.raises(InvalidDates):
        _renew(supporter, issued_on=ISSUED_ON - timedelta(days=1))
    assert supporter.collect_events() == []


# -- supporter: withdrawal and revocation (第15条〜第17条) ---------------------------------------

@pytest.mark.parametrize("status", ["applied", "registered", "expired"])
def test_a_withdrawal_records_the_lasting_confidentiality_duty(status: str) -> None:
    supporter = BUILDERS[status]()
    supporter.withdraw(withdrawn_on=date(2018, 8, 1), reason={"sealed": "x"})
    events = supporter.collect_events()
    assert _names(events) == ["RegistrationWithdrawn"]
    assert events[0].withdrawn_on == date(2018, 8, 1)
    assert events[0].confidentiality_duty == registry.CONFIDENTIALITY_NOTE
    assert "第17条" in events[0].confidentiality_duty
    assert supporter.status == "withdrawn"


def test_a_revocation_without_any_inquiry_lists_both_missing_steps() -> None:
    supporter = _registered()
    with pytest.raises(RevocationNotPrepared) as raised:
        supporter.revoke(revoked_on=date(2017, 1, 10), grounds={})
    assert sorted(raised.value.extensions["missing"]) == ["interview", "investigation"]
    assert supporter.collect_events() == []
    assert supporter.status == "registered"


@pytest.mark.parametrize("done, missing", [("investigation", "interview"), ("interview", "investigation")])
def test_a_revocation_after_only_one_inquiry_lists_the_other(done: str, missing: str) -> None:
    supporter = _registered()
    supporter.record_inquiry(kind=done, held_on=date(2017, 1, 5), findings=None)
    supporter.collect_events()
    with pytest.raises(RevocationNotPrepared) as raised:
        supporter.revoke(revoked_on=date(2017, 1, 10), grounds={})
    assert raised.value.extensions["missing"] == [missing]
    assert supporter.collect_events() == []


def test_an_inquiry_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput):
        _registered().record_inquiry(kind="hearing", held_on=date(2017, 1, 5), findings=None)


def test_a_revocation_after_investigation_and_interview_carries_the_confidentiality_note() -> None:
    supporter = _registered()
    supporter.record_inquiry(kind="investigation", held_on=date(2017, 1, 5), findings={"sealed": "f"})
    supporter.record_inquiry(kind="interview", held_on=date(2017, 1, 6), findings=None)
    supporter.revoke(revoked_on=date(2017, 1, 10), grounds={"sealed": "g"})
    events = supporter.collect_events()
    assert _names(events) == ["RevocationInquiryRecorded", "RevocationInquiryRecorded", "RegistrationRevoked"]
    assert [e.kind for e in events[:2]] == ["investigation", "interview"]
    revoked = events[2]
    assert (revoked.revoked_on, revoked.grounds) == (date(2017, 1, 10), {"sealed": "g"})
    assert revoked.confidentiality_duty == registry.CONFIDENTIALITY_NOTE
    assert supporter.status == "revoked"


def test_an_expired_registration_can_be_revoked_after_inquiries() -> None:
    supporter = _expired()
    supporter.record_inquiry(kind="interview", held_on=date(2018, 7, 5), findings=None)
    supporter.record_inquiry(kind="investigation", held_on=date(2018, 7, 6), findings=None)
    supporter.revoke(revoked_on=date(2018, 7, 10), grounds={})
    assert supporter.status == "revoked"


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


# -- roster provision (資料6, 第8条) ----------------------------------------------------------

def _entry(**overrides: object) -> dict:
    entry: dict = {"supporter_id": str(uuid4()), "consent_id": str(uuid4()), "registration_number": "001"}
    entry.update(overrides)
    return entry


def _provide(**overrides: object) -> RosterProvision:
    arguments = dict(id=uuid4(), tenant=TOKYO, recipient=CHIYODA, provided_on=date(2017, 1, 15),
                     items=["registration_number", "name"], entries=[_entry()])
    arguments.update(overrides)
    return RosterProvision.provide(**arguments)  # type: ignore[arg-type]


def test_providing_a_roster_records_one_event_with_recipient_items_and_entries() -> None:
    entries = [_entry(), _entry(registration_number="002")]
    roster = _provide(entries=entries)
    events = roster.collect_events()
    assert _names(events) == ["RosterProvided"]
    assert (events[0].tenant, events[0].recipient, events[0].provided_on) == (
        TOKYO, CHIYODA, date(2017, 1, 15))
    assert events[0].entries == entries
    assert roster.recipient == CHIYODA


def test_roster_items_are_stored_in_the_forms_order_whatever_order_they_were_given_in() -> None:
    roster = _provide(items=["contact", "name", "registration_number", "birth_date", "term"])
    assert roster.items == ["registration_number", "term", "name", "birth_date", "contact"]
    assert roster.collect_events()[0].items == roster.items


def test_all_roster_items_reversed_come_back_in_the_forms_order() -> None:
    assert _provide(items=list(reversed(registry.ROSTER_ITEMS))).items == list(registry.ROSTER_ITEMS)


def test_a_roster_item_given_twice_is_stored_once() -> None:
    assert _provide(items=["name", "name", "registration_number"]).items == ["registration_number", "name"]


def test_a_roster_with_an_unknown_item_is_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        _provide(items=["name", "my_number", "blood_type"])
    assert raised.value.extensions["unknown"] == ["blood_type", "my_number"]


def test_a_roster_without_items_is_refused() -> None:
    with pytest.raises(InvalidInput):
        _provide(items=[])


def test_a_roster_without_entries_is_refused() -> None:
    with pytest.raises(InvalidInput):
        _provide(entries=[])


@pytest.mark.parametrize("entry", [
    {"supporter_id": "x", "registration_number": "001"},
    {"supporter_id": "x", "consent_id": None},
    {"supporter_id": "x", "consent_id": ""},
])
def test_a_roster_entry_that_rests_on_no_consent_is_refused(entry: dict) -> None:
    with pytest.raises(InvalidInput):
        _provide(entries=[_entry(), entry])


@pytest.mark.parametrize("recipient", ["131017", "13101", "chiyoda", ""])
def test_a_roster_for_an_invalid_recipient_code_is_refused(recipient: str) -> None:
    with pytest.raises(InvalidLgCode):
        _provide(recipient=recipient)


def test_a_roster_entry_may_carry_a_uuid_consent_id() -> None:
    consent_id: UUID = uuid4()
    roster = _provide(entries=[_entry(consent_id=consent_id)])
    assert roster.entries[0]["consent_id"] == consent_id
