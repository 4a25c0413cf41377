"""During and at the end of a dispatch: activity reports (資料8) and their review, suspension and
resumption, and the end (中止及び終了の希望が示された場合には速やかに中止及び終了).
"""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from libs.domain import dispatch as contracts
from services.dispatch.domain.errors import (
    ConsentMissing,
    DispatchNotActive,
    DispatchNotReady,
    InvalidDispatchInput,
    WrongDispatchStatus,
)
from services.dispatch.tests.builders import (
    ACTIVITY_DAY,
    STARTED_ON,
    _active,
    _missing,
    _names,
    _ready,
    _report,
    _requested,
    _suspended,
    _the,
)

# -- activity reports (資料8) -----------------------------------------------------------------

def test_the_assigned_supporter_files_an_activity_report() -> None:
    dispatch, supporter_id = _active()
    report_id = _report(dispatch, supporter_id)
    events = dispatch.collect_events()
    assert _names(events) == ["ActivityReported"]
    reported = _the(contracts.ActivityReported, events[0])
    assert reported.report_id == report_id
    assert reported.supporter_id == supporter_id
    assert (reported.starts_at, reported.ends_at) == ("14:00", "15:30")
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


@pytest.mark.parametrize("next_step,next_step_other",
                         [("pause", None), ("end", None), ("other", {"sealed": "転居予定"})])
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
    assert _the(contracts.ReportReviewed, events[0]).report_id == pause
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
def test_only_an_active_dispatch_can_be_suspended(build) -> None:
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
    ended = _the(contracts.DispatchEnded, events[0])
    assert (ended.reason, ended.supporter_id, ended.cause_event_id) == ("plan_completed", supporter_id, "abc")
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
def test_the_persons_wish_to_stop_ends_the_dispatch_at_once_from_any_open_status(build) -> None:
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
    assert dispatch.consent is not None
    consent_id = dispatch.consent["consent_id"]
    dispatch.withdraw_subject_consent(withdrawn_on=date(2017, 6, 1))
    events = dispatch.collect_events()
    assert _names(events) == ["SubjectConsentWithdrawn", "DispatchEnded"]
    withdrawn, ended = _the(contracts.SubjectConsentWithdrawn, events[0]), _the(contracts.DispatchEnded, events[1])
    assert withdrawn.consent_id == consent_id
    assert withdrawn.withdrawn_on == date(2017, 6, 1)
    assert ended.reason == "subject_consent_withdrawn"
    assert ended.supporter_id == supporter_id
    assert ended.ended_on == date(2017, 6, 1)
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
