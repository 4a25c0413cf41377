"""A dispatch from its request to its start: the request, the referring centre following it
under consent (資料7), assignment and the supporter's acceptance, and what the start needs
(派遣目的・活動計画・活動内容を明確にし双方の同意を得る). Aggregates as plain objects, no database.
"""

from __future__ import annotations

from uuid import uuid4

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
from services.dispatch.tests.builders import (
    CHIYODA,
    REQUESTED_ON,
    SIGNED_ON,
    STARTED_ON,
    _active,
    _agree_plan,
    _assign,
    _consent,
    _missing,
    _names,
    _ready,
    _request,
    _requested,
    _the,
)

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
    assert _the(contracts.DispatchRequested, dispatch.collect_events()[0]).referring_centre_id == centre_id
    assert dispatch.referring_centre_id == centre_id
    direct = Dispatch.request(id=uuid4(), tenant=CHIYODA, subject_ref="subject-002", source="municipality",
                              needs=["visit"], preferences={}, requested_on=REQUESTED_ON)
    created = _the(contracts.DispatchRequested, direct.collect_events()[0])
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
    started = _the(contracts.DispatchStarted, events[0])
    assert started.supporter_id == supporter_id
    assert started.started_on == STARTED_ON
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
    assigned = _the(contracts.SupporterAssigned, events[0])
    assert assigned.supporter_id == supporter_id
    assert assigned.roster_entry_id == RosterEntry.id_for(CHIYODA, supporter_id)
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
    assert _the(contracts.DispatchStarted, dispatch.collect_events()[-1]).supporter_id == second != first


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
