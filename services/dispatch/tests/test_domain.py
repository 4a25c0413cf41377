"""Dispatch domain rules (実施要領 第3 3, 要綱例 第10条〜第12条, 資料7, 資料8), without a database.

Aggregates are plain objects: built with their classmethods, driven by commands, and inspected
through their state and `collect_events()`.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from uuid import UUID, uuid4

import pytest

from libs.domain import dispatch as contracts
from libs.domain.errors import Conflict, InvalidInput
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.errors import (
    ConsentMissing,
    DispatchNotActive,
    DispatchNotReady,
    InvalidDispatchInput,
    WrongDispatchStatus,
)
from services.dispatch.domain.roster_entry import RosterEntry

CHIYODA = "131016"  # 千代田区
MINATO = "131032"  # 港区
REQUESTED_ON = date(2017, 4, 3)
ASSIGNED_ON = date(2017, 4, 10)
SIGNED_ON = date(2017, 4, 12)
STARTED_ON = date(2017, 4, 20)
ACTIVITY_DAY = date(2017, 5, 1)
AT = datetime(2017, 4, 21, 10, 0, tzinfo=timezone.utc)


def _names(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


# -- builders -------------------------------------------------------------------------------

def _request(**overrides: object) -> Dispatch:
    arguments = dict(
        id=uuid4(), tenant=CHIYODA, subject_ref="subject-001", source="intake",
        intake_request_id=uuid4(), needs=["visit"], preferences={}, requested_on=REQUESTED_ON,
    )
    arguments.update(overrides)
    return Dispatch.request(**arguments)  # type: ignore[arg-type]


def _requested() -> Dispatch:
    dispatch = _request()
    dispatch.collect_events()
    return dispatch


def _assign(dispatch: Dispatch, supporter_id: UUID | None = None) -> UUID:
    supporter_id = supporter_id or uuid4()
    dispatch.assign(supporter_id=supporter_id, registration_number="2016-001",
                    roster_entry_id=RosterEntry.id_for(CHIYODA, supporter_id), assigned_on=ASSIGNED_ON)
    return supporter_id


def _consent(dispatch: Dispatch, **overrides: object) -> UUID:
    arguments = dict(
        consent_id=uuid4(), given_by="person", items=["name", "contact", "consultation"],
        support_meetings=True, costs_self_paid=True, signed_on=SIGNED_ON,
    )
    arguments.update(overrides)
    dispatch.record_subject_consent(**arguments)  # type: ignore[arg-type]
    return arguments["consent_id"]  # type: ignore[return-value]


def _agree_plan(dispatch: Dispatch) -> None:
    dispatch.agree_plan(activities=["visit", "interview"], plan={"sealed": "ciphertext"},
                        agreed_on=SIGNED_ON)


def _ready() -> tuple[Dispatch, UUID]:
    """Assigned, both sides consented, plan agreed: everything a start needs."""
    dispatch = _requested()
    supporter_id = _assign(dispatch)
    _consent(dispatch)
    dispatch.accept_as_supporter(supporter_id=supporter_id, accepted_on=SIGNED_ON)
    _agree_plan(dispatch)
    dispatch.collect_events()
    return dispatch, supporter_id


def _active() -> tuple[Dispatch, UUID]:
    dispatch, supporter_id = _ready()
    dispatch.start(started_on=STARTED_ON, supporter_problems=[])
    dispatch.collect_events()
    return dispatch, supporter_id


def _suspended() -> tuple[Dispatch, UUID]:
    dispatch, supporter_id = _active()
    dispatch.suspend(reason="subject_requested_pause", suspended_on=date(2017, 5, 10))
    dispatch.collect_events()
    return dispatch, supporter_id


def _report(dispatch: Dispatch, supporter_id: UUID, **overrides: object) -> UUID:
    arguments = dict(
        report_id=uuid4(), supporter_id=supporter_id, reported_on=ACTIVITY_DAY, activity_date=ACTIVITY_DAY,
        starts_at="14:00", ends_at="15:30", activity_type="visit", activity_type_other=None,
        next_step="continue", next_step_other=None, narrative={"sealed": "ciphertext"},
    )
    arguments.update(overrides)
    dispatch.report_activity(**arguments)  # type: ignore[arg-type]
    return arguments["report_id"]  # type: ignore[return-value]


def _missing(excinfo: pytest.ExceptionInfo) -> list[str]:
    return excinfo.value.extensions["missing"]


# -- request --------------------------------------------------------------------------------

def test_a_request_starts_in_status_requested_and_records_one_event() -> None:
    dispatch = _request(needs=["visit", "information", "visit"])
    events = dispatch.collect_events()
    assert _names(events) == ["DispatchRequested"]
    assert dispatch.status == "requested"
    assert dispatch.needs == ["information", "visit"]
    assert dispatch.supporter_id is None and dispatch.consent is None


def test_a_request_without_any_need_is_refused() -> None:
    with pytest.raises(InvalidDispatchInput):
        _request(needs=[])


def test_dispatch_errors_are_conflicts_or_invalid_input() -> None:
    for error in (DispatchNotReady, DispatchNotActive, WrongDispatchStatus, ConsentMissing):
        assert issubclass(error, Conflict)
    assert issubclass(InvalidDispatchInput, InvalidInput)


def test_a_request_records_the_referring_centre_and_defaults_to_none() -> None:
    centre_id = uuid4()
    dispatch = _request(referring_centre_id=centre_id)
    assert dispatch.collect_events()[0].referring_centre_id == centre_id
    assert dispatch.referring_centre_id == centre_id
    direct = Dispatch.request(id=uuid4(), tenant=CHIYODA, subject_ref="subject-002", source="municipality",
                              needs=["visit"], preferences={}, requested_on=REQUESTED_ON)
    created = direct.collect_events()[0]
    assert (created.intake_request_id, created.referring_centre_id) == (None, None)
    assert direct.referring_centre_id is None


# -- the referring centre follows only under consent to support meetings (資料7) -------------

def test_the_referring_centre_follows_the_dispatch_only_while_the_person_consents_to_support_meetings() -> None:
    centre_id = uuid4()
    dispatch = _request(referring_centre_id=centre_id)
    assert dispatch.shared_with_centre(str(centre_id)) is False  # no consent yet
    _consent(dispatch, support_meetings=False)
    assert dispatch.shared_with_centre(str(centre_id)) is False
    _consent(dispatch, support_meetings=True)
    assert dispatch.shared_with_centre(str(centre_id)) is True
    assert dispatch.shared_with_centre(str(uuid4())) is False  # another centre
    dispatch.withdraw_subject_consent(withdrawn_on=SIGNED_ON)
    assert dispatch.shared_with_centre(str(centre_id)) is False


def test_a_dispatch_without_a_referring_centre_is_shared_with_no_centre() -> None:
    dispatch = _request(referring_centre_id=None)
    _consent(dispatch, support_meetings=True)
    assert dispatch.shared_with_centre(str(uuid4())) is False


# -- start: 派遣目的・活動計画・活動内容を明確にし双方の同意を得る ---------------------------------

def test_a_bare_request_cannot_start_and_the_error_lists_everything_missing_in_order() -> None:
    dispatch = _requested()
    with pytest.raises(DispatchNotReady) as excinfo:
        dispatch.start(started_on=STARTED_ON, supporter_problems=[])
    assert _missing(excinfo) == ["supporter_assigned", "subject_consent", "supporter_consent", "activity_plan"]
    assert dispatch.status == "requested"
    assert dispatch.collect_events() == []


def test_supporter_problems_are_listed_after_the_missing_steps_one_entry_each() -> None:
    dispatch = _requested()
    problems = ["registration ended (revoked)", "intent to act not re-confirmed"]
    with pytest.raises(DispatchNotReady) as excinfo:
        dispatch.start(started_on=STARTED_ON, supporter_problems=problems)
    assert _missing(excinfo) == [
        "supporter_assigned", "subject_consent", "supporter_consent", "activity_plan",
        "supporter_eligible: registration ended (revoked)",
        "supporter_eligible: intent to act not re-confirmed",
    ]


def test_a_consent_that_does_not_acknowledge_self_paid_costs_is_named_as_missing() -> None:
    dispatch = _requested()
    supporter_id = _assign(dispatch)
    _consent(dispatch, costs_self_paid=False)
    dispatch.accept_as_supporter(supporter_id=supporter_id, accepted_on=SIGNED_ON)
    _agree_plan(dispatch)
    with pytest.raises(DispatchNotReady) as excinfo:
        dispatch.start(started_on=STARTED_ON, supporter_problems=[])
    assert _missing(excinfo) == ["subject_consent.costs_self_paid"]


def test_without_the_supporters_acceptance_the_start_names_only_that() -> None:
    dispatch = _requested()
    _assign(dispatch)
    _consent(dispatch)
    _agree_plan(dispatch)
    with pytest.raises(DispatchNotReady) as excinfo:
        dispatch.start(started_on=STARTED_ON, supporter_problems=[])
    assert _missing(excinfo) == ["supporter_consent"]


def test_without_an_agreed_plan_the_start_names_only_the_activity_plan() -> None:
    dispatch = _requested()
    supporter_id = _assign(dispatch)
    _consent(dispatch)
    dispatch.accept_as_supporter(supporter_id=supporter_id, accepted_on=SIGNED_ON)
    with pytest.raises(DispatchNotReady) as excinfo:
        dispatch.start(started_on=STARTED_ON, supporter_problems=[])
    assert _missing(excinfo) == ["activity_plan"]


def test_a_ready_dispatch_with_an_ineligible_supporter_does_not_start() -> None:
    dispatch, _ = _ready()
    with pytest.raises(DispatchNotReady) as excinfo:
        dispatch.start(started_on=STARTED_ON, supporter_problems=["registration term ended on 2017-03-31"])
    assert _missing(excinfo) == ["supporter_eligible: registration term ended on 2017-03-31"]
    assert dispatch.status == "requested"
    assert dispatch.collect_events() == []


def test_a_ready_dispatch_starts_and_records_the_supporter() -> None:
    dispatch, supporter_id = _ready()
    assert dispatch.missing_for_start() == []
    dispatch.start(started_on=STARTED_ON, supporter_problems=[])
    events = dispatch.collect_events()
    assert _names(events) == ["DispatchStarted"]
    assert events[0].supporter_id == supporter_id
    assert events[0].started_on == STARTED_ON
    assert dispatch.status == "active"


def test_starting_twice_is_refused_with_wrong_status() -> None:
    dispatch, _ = _active()
    with pytest.raises(WrongDispatchStatus):
        dispatch.start(started_on=STARTED_ON, supporter_problems=[])
    assert dispatch.collect_events() == []


# -- assignment and the supporter's acceptance ----------------------------------------------

def test_assigning_records_the_supporter() -> None:
    dispatch = _requested()
    supporter_id = _assign(dispatch)
    events = dispatch.collect_events()
    assert _names(events) == ["SupporterAssigned"]
    assert events[0].supporter_id == supporter_id
    assert events[0].roster_entry_id == RosterEntry.id_for(CHIYODA, supporter_id)
    assert dispatch.supporter_id == supporter_id


def test_a_new_supporter_must_accept_afresh_after_reassignment() -> None:
    dispatch, first = _ready()
    second = _assign(dispatch)
    assert dispatch.supporter_id == second
    assert dispatch.supporter_consented is False
    with pytest.raises(DispatchNotReady) as excinfo:
        dispatch.start(started_on=STARTED_ON, supporter_problems=[])
    assert _missing(excinfo) == ["supporter_consent"]
    dispatch.accept_as_supporter(supporter_id=second, accepted_on=SIGNED_ON)
    dispatch.start(started_on=STARTED_ON, supporter_problems=[])
    assert dispatch.collect_events()[-1].supporter_id == second != first


def test_only_the_assigned_supporter_can_accept() -> None:
    dispatch = _requested()
    _assign(dispatch)
    dispatch.collect_events()
    with pytest.raises(WrongDispatchStatus):
        dispatch.accept_as_supporter(supporter_id=uuid4(), accepted_on=SIGNED_ON)
    assert dispatch.supporter_consented is False
    assert dispatch.collect_events() == []


def test_no_one_can_accept_before_a_supporter_is_assigned() -> None:
    dispatch = _requested()
    with pytest.raises(WrongDispatchStatus):
        dispatch.accept_as_supporter(supporter_id=uuid4(), accepted_on=SIGNED_ON)


def test_the_previous_supporter_cannot_accept_after_reassignment() -> None:
    dispatch = _requested()
    first = _assign(dispatch)
    _assign(dispatch)
    with pytest.raises(WrongDispatchStatus):
        dispatch.accept_as_supporter(supporter_id=first, accepted_on=SIGNED_ON)


def test_assigning_after_the_start_is_refused() -> None:
    dispatch, supporter_id = _active()
    with pytest.raises(WrongDispatchStatus):
        _assign(dispatch)
    assert dispatch.supporter_id == supporter_id
    assert dispatch.collect_events() == []


def test_accepting_after_the_start_is_refused() -> None:
    dispatch, supporter_id = _active()
    with pytest.raises(WrongDispatchStatus):
        dispatch.accept_as_supporter(supporter_id=supporter_id, accepted_on=STARTED_ON)


# -- the person's consent (資料7) -------------------------------------------------------------

def test_the_persons_consent_is_recorded_with_its_items() -> None:
    dispatch = _requested()
    consent_id = _consent(dispatch, items=["name", "medical_history"], support_meetings=False)
    events = dispatch.collect_events()
    assert _names(events) == ["SubjectConsented"]
    assert events[0].consent_id == consent_id
    assert events[0].items == ["name", "medical_history"]
    assert events[0].support_meetings is False and events[0].costs_self_paid is True
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
    assert dispatch.consent["items"] == expected  # type: ignore[index]
    assert dispatch.collect_events()[0].items == expected


def test_consent_to_every_item_follows_the_form_order() -> None:
    dispatch = _requested()
    _consent(dispatch, items=list(reversed(contracts.DISCLOSURE_ITEMS)))
    assert dispatch.consent["items"] == list(contracts.DISCLOSURE_ITEMS)  # type: ignore[index]


@pytest.mark.parametrize("given_by", ["person", "legal_guardian"])
def test_consent_may_be_given_by_the_person_or_a_legal_guardian(given_by: str) -> None:
    dispatch = _requested()
    _consent(dispatch, given_by=given_by)
    assert dispatch.collect_events()[0].given_by == given_by


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
    consent_id = dispatch.consent["consent_id"]  # type: ignore[index]
    assert dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT) == [
        "name", "contact", "consultation"]
    events = dispatch.collect_events()
    assert _names(events) == ["InformationDisclosed"]
    assert events[0].recipient_supporter_id == supporter_id
    assert events[0].items == ["name", "contact", "consultation"]
    assert events[0].consent_id == consent_id
    assert events[0].disclosed_at == AT


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
    assert dispatch.collect_events()[0].consent_id == new_consent


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


def test_disclosure_is_allowed_while_suspended() -> None:
    dispatch, supporter_id = _suspended()
    assert dispatch.disclose_to_supporter(supporter_id=supporter_id, disclosed_at=AT)
    assert _names(dispatch.collect_events()) == ["InformationDisclosed"]


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


# -- activity reports (資料8) -----------------------------------------------------------------

def test_the_assigned_supporter_files_an_activity_report() -> None:
    dispatch, supporter_id = _active()
    report_id = _report(dispatch, supporter_id)
    events = dispatch.collect_events()
    assert _names(events) == ["ActivityReported"]
    assert events[0].report_id == report_id
    assert events[0].supporter_id == supporter_id
    assert (events[0].starts_at, events[0].ends_at) == ("14:00", "15:30")
    assert dispatch.reports == {report_id: "continue"}


def test_another_supporter_cannot_file_a_report() -> None:
    dispatch, _ = _active()
    with pytest.raises(WrongDispatchStatus):
        _report(dispatch, uuid4())
    assert dispatch.collect_events() == []


def test_no_report_is_filed_before_the_start() -> None:
    dispatch, supporter_id = _ready()
    with pytest.raises(DispatchNotActive):
        _report(dispatch, supporter_id)


def test_no_report_is_filed_while_suspended() -> None:
    dispatch, supporter_id = _suspended()
    with pytest.raises(DispatchNotActive):
        _report(dispatch, supporter_id)
    assert dispatch.collect_events() == []


def test_no_report_is_filed_after_the_end() -> None:
    dispatch, supporter_id = _active()
    dispatch.end(reason="plan_completed", ended_on=ACTIVITY_DAY)
    dispatch.collect_events()
    with pytest.raises(DispatchNotActive):
        _report(dispatch, supporter_id)
    assert dispatch.collect_events() == []


def test_an_activity_of_type_other_needs_its_description() -> None:
    dispatch, supporter_id = _active()
    with pytest.raises(InvalidDispatchInput):
        _report(dispatch, supporter_id, activity_type="other", activity_type_other=None)
    with pytest.raises(InvalidDispatchInput):
        _report(dispatch, supporter_id, activity_type="other", activity_type_other={})
    assert dispatch.collect_events() == []
    _report(dispatch, supporter_id, activity_type="other", activity_type_other={"sealed": "図書館へ同行"})
    assert _names(dispatch.collect_events()) == ["ActivityReported"]


@pytest.mark.parametrize("field,value", [("activity_type", "phone_call"), ("next_step", "transfer")])
def test_a_report_with_an_unknown_code_is_refused(field: str, value: str) -> None:
    dispatch, supporter_id = _active()
    with pytest.raises(InvalidDispatchInput):
        _report(dispatch, supporter_id, **{field: value})
    assert dispatch.collect_events() == []


@pytest.mark.parametrize("starts_at,ends_at", [("14:00", "14:00"), ("15:30", "14:00")])
def test_an_activity_must_end_after_it_starts(starts_at: str, ends_at: str) -> None:
    dispatch, supporter_id = _active()
    with pytest.raises(InvalidDispatchInput):
        _report(dispatch, supporter_id, starts_at=starts_at, ends_at=ends_at)
    assert dispatch.collect_events() == []


def test_a_report_is_not_dated_before_the_activity() -> None:
    dispatch, supporter_id = _active()
    with pytest.raises(InvalidDispatchInput):
        _report(dispatch, supporter_id, activity_date=ACTIVITY_DAY, reported_on=date(2017, 4, 30))
    assert dispatch.collect_events() == []
    _report(dispatch, supporter_id, activity_date=ACTIVITY_DAY, reported_on=date(2017, 5, 2))
    assert _names(dispatch.collect_events()) == ["ActivityReported"]


def test_the_same_report_sent_twice_is_recorded_once() -> None:
    dispatch, supporter_id = _active()
    report_id = _report(dispatch, supporter_id)
    _report(dispatch, supporter_id, report_id=report_id)
    assert _names(dispatch.collect_events()) == ["ActivityReported"]
    assert list(dispatch.reports) == [report_id]


@pytest.mark.parametrize("next_step,next_step_other", [("pause", None), ("end", None), ("other", {"sealed": "転居予定"})])
def test_a_report_proposing_to_pause_end_or_other_opens_a_task(next_step: str, next_step_other: dict | None) -> None:
    dispatch, supporter_id = _active()
    report_id = _report(dispatch, supporter_id, next_step=next_step, next_step_other=next_step_other)
    assert dispatch.open_tasks() == [report_id]


def test_a_report_proposing_to_continue_opens_no_task() -> None:
    dispatch, supporter_id = _active()
    _report(dispatch, supporter_id, next_step="continue")
    assert dispatch.open_tasks() == []


def test_reviewing_a_report_closes_its_task_and_a_second_review_records_nothing() -> None:
    dispatch, supporter_id = _active()
    pause = _report(dispatch, supporter_id, next_step="pause")
    end = _report(dispatch, supporter_id, next_step="end")
    dispatch.collect_events()
    dispatch.review_report(report_id=pause, reviewed_on=date(2017, 5, 2))
    events = dispatch.collect_events()
    assert _names(events) == ["ReportReviewed"]
    assert events[0].report_id == pause
    assert dispatch.open_tasks() == [end]
    dispatch.review_report(report_id=pause, reviewed_on=date(2017, 5, 3))
    assert dispatch.collect_events() == []
    assert dispatch.open_tasks() == [end]


def test_reviewing_an_unknown_report_is_refused() -> None:
    dispatch, _ = _active()
    with pytest.raises(InvalidDispatchInput):
        dispatch.review_report(report_id=uuid4(), reviewed_on=ACTIVITY_DAY)


def test_a_report_proposing_the_end_does_not_end_the_dispatch() -> None:
    dispatch, supporter_id = _active()
    _report(dispatch, supporter_id, next_step="end")
    _report(dispatch, supporter_id, next_step="pause")
    assert _names(dispatch.collect_events()) == ["ActivityReported", "ActivityReported"]
    assert dispatch.status == "active"
    assert dispatch.end_reason is None


def test_a_report_stays_reviewable_after_the_dispatch_ended() -> None:
    dispatch, supporter_id = _active()
    report_id = _report(dispatch, supporter_id, next_step="end")
    dispatch.end(reason="plan_completed", ended_on=ACTIVITY_DAY)
    dispatch.review_report(report_id=report_id, reviewed_on=ACTIVITY_DAY)
    assert dispatch.open_tasks() == []


# -- suspend and resume -----------------------------------------------------------------------

def test_an_active_dispatch_is_suspended_and_resumed() -> None:
    dispatch, _ = _active()
    dispatch.suspend(reason="subject_condition", suspended_on=date(2017, 5, 10), note={"sealed": "入院"})
    assert dispatch.status == "suspended"
    dispatch.resume(resumed_on=date(2017, 6, 1), supporter_problems=[])
    assert dispatch.status == "active"
    assert _names(dispatch.collect_events()) == ["DispatchSuspended", "DispatchResumed"]


@pytest.mark.parametrize("build", [_requested, lambda: _suspended()[0]])
def test_only_an_active_dispatch_can_be_suspended(build) -> None:  # noqa: ANN001
    dispatch = build()
    with pytest.raises(WrongDispatchStatus):
        dispatch.suspend(reason="other", suspended_on=ACTIVITY_DAY)
    assert dispatch.collect_events() == []


def test_an_ended_dispatch_cannot_be_suspended() -> None:
    dispatch, _ = _active()
    dispatch.end(reason="plan_completed", ended_on=ACTIVITY_DAY)
    with pytest.raises(WrongDispatchStatus):
        dispatch.suspend(reason="other", suspended_on=ACTIVITY_DAY)


def test_resuming_with_an_ineligible_supporter_is_refused_with_the_problems() -> None:
    dispatch, _ = _suspended()
    problems = ["registration ended (revoked)"]
    with pytest.raises(DispatchNotReady) as excinfo:
        dispatch.resume(resumed_on=date(2017, 6, 1), supporter_problems=problems)
    assert _missing(excinfo) == problems
    assert dispatch.status == "suspended"
    assert dispatch.collect_events() == []


def test_only_a_suspended_dispatch_can_be_resumed() -> None:
    dispatch, _ = _active()
    with pytest.raises(WrongDispatchStatus):
        dispatch.resume(resumed_on=ACTIVITY_DAY, supporter_problems=[])


# -- ending: 中止及び終了の希望が示された場合には速やかに中止及び終了 ---------------------------------

def test_ending_records_once_and_a_second_end_returns_false_and_records_nothing() -> None:
    dispatch, supporter_id = _active()
    assert dispatch.end(reason="plan_completed", ended_on=date(2017, 9, 1), cause_event_id="abc") is True
    events = dispatch.collect_events()
    assert _names(events) == ["DispatchEnded"]
    assert (events[0].reason, events[0].supporter_id, events[0].cause_event_id) == (
        "plan_completed", supporter_id, "abc")
    assert dispatch.status == "ended" and dispatch.end_reason == "plan_completed"
    assert dispatch.end(reason="subject_requested_stop", ended_on=date(2017, 9, 2)) is False
    assert dispatch.collect_events() == []
    assert dispatch.end_reason == "plan_completed"


def test_ending_with_an_unknown_reason_is_refused() -> None:
    dispatch, _ = _active()
    with pytest.raises(InvalidDispatchInput):
        dispatch.end(reason="bored", ended_on=ACTIVITY_DAY)
    assert dispatch.status == "active"
    assert dispatch.collect_events() == []


@pytest.mark.parametrize("reason", contracts.END_REASONS)
def test_every_listed_end_reason_is_accepted(reason: str) -> None:
    dispatch, _ = _active()
    assert dispatch.end(reason=reason, ended_on=ACTIVITY_DAY) is True
    assert dispatch.end_reason == reason


@pytest.mark.parametrize("build", [
    _requested,
    lambda: _ready()[0],
    lambda: _active()[0],
    lambda: _suspended()[0],
], ids=["requested", "ready", "active", "suspended"])
def test_the_persons_wish_to_stop_ends_the_dispatch_at_once_from_any_open_status(build) -> None:  # noqa: ANN001
    dispatch = build()
    assert dispatch.end(reason="subject_requested_stop", ended_on=ACTIVITY_DAY) is True
    assert _names(dispatch.collect_events()) == ["DispatchEnded"]
    assert dispatch.status == "ended"
    assert dispatch.end_reason == "subject_requested_stop"


def test_an_ended_dispatch_never_starts() -> None:
    dispatch, _ = _ready()
    dispatch.end(reason="subject_requested_stop", ended_on=ACTIVITY_DAY)
    with pytest.raises(WrongDispatchStatus):
        dispatch.start(started_on=STARTED_ON, supporter_problems=[])


def test_withdrawing_consent_records_the_withdrawal_and_then_ends_the_dispatch() -> None:
    dispatch, supporter_id = _active()
    consent_id = dispatch.consent["consent_id"]  # type: ignore[index]
    dispatch.withdraw_subject_consent(withdrawn_on=date(2017, 6, 1))
    events = dispatch.collect_events()
    assert _names(events) == ["SubjectConsentWithdrawn", "DispatchEnded"]
    assert events[0].consent_id == consent_id
    assert events[0].withdrawn_on == date(2017, 6, 1)
    assert events[1].reason == "subject_consent_withdrawn"
    assert events[1].supporter_id == supporter_id
    assert events[1].ended_on == date(2017, 6, 1)
    assert dispatch.status == "ended" and dispatch.consent is None


def test_withdrawing_consent_before_the_start_ends_the_request_too() -> None:
    dispatch, _ = _ready()
    dispatch.withdraw_subject_consent(withdrawn_on=STARTED_ON)
    assert _names(dispatch.collect_events()) == ["SubjectConsentWithdrawn", "DispatchEnded"]
    assert dispatch.end_reason == "subject_consent_withdrawn"


def test_withdrawing_without_a_consent_is_refused() -> None:
    dispatch = _requested()
    with pytest.raises(ConsentMissing):
        dispatch.withdraw_subject_consent(withdrawn_on=STARTED_ON)
    assert dispatch.status == "requested"
    assert dispatch.collect_events() == []


def test_withdrawing_twice_is_refused_the_second_time() -> None:
    dispatch, _ = _active()
    dispatch.withdraw_subject_consent(withdrawn_on=date(2017, 6, 1))
    dispatch.collect_events()
    with pytest.raises(ConsentMissing):
        dispatch.withdraw_subject_consent(withdrawn_on=date(2017, 6, 2))
    assert dispatch.collect_events() == []


# -- roster entries (名簿管理: 活動する意向を再度確認) -------------------------------------------

ROSTER_DAY = date(2017, 4, 1)
TERM_ENDS_ON = date(2018, 6, 30)


def _receive(supporter_id: UUID | None = None, **overrides: object) -> RosterEntry:
    arguments = dict(
        tenant=CHIYODA, supporter_id=supporter_id or uuid4(), registrar="130001", roster_id=uuid4(),
        registration_number="2016-001", term_ends_on=TERM_ENDS_ON, consent_id=uuid4(),
        received_on=ROSTER_DAY,
    )
    arguments.update(overrides)
    return RosterEntry.receive(**arguments)  # type: ignore[arg-type]


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
    assert events[0].registrar == "130001"
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
    assert (events[0].reason, events[0].cause_event_id) == ("revoked", "e1")
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
