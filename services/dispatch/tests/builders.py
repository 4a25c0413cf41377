"""Dispatches built at each stage of their course, for the domain tests: plain objects, no
database (実施要領 第3 3, 要綱例 第10条〜第12条, 資料7, 資料8).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest

from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.domain.roster_entry import RosterEntry

CHIYODA = "131016"  # 千代田区
MINATO = "131032"  # 港区
REQUESTED_ON = date(2017, 4, 3)
ASSIGNED_ON = date(2017, 4, 10)
SIGNED_ON = date(2017, 4, 12)
STARTED_ON = date(2017, 4, 20)
ACTIVITY_DAY = date(2017, 5, 1)
AT = datetime(2017, 4, 21, 10, 0, tzinfo=UTC)


def _names(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


E = TypeVar("E")


def _the(kind: type[E], event: object) -> E:
    """The event, checked to be the contract event `kind`: collect_events() is typed with
    eventsourcing's CanMutateAggregate, which has none of the event's fields."""
    assert isinstance(event, kind), f"{type(event).__name__} is not a {kind.__name__}"
    return event


# -- builders -------------------------------------------------------------------------------

def _request(**overrides: Any) -> Dispatch:
    arguments: dict[str, Any] = {
        "id": uuid4(), "tenant": CHIYODA, "subject_ref": "subject-001", "source": "intake",
        "intake_request_id": uuid4(), "needs": ["visit"], "preferences": {}, "requested_on": REQUESTED_ON,
    }
    arguments.update(overrides)
    return Dispatch.request(**arguments)


def _requested() -> Dispatch:
    dispatch = _request()
    dispatch.collect_events()
    return dispatch


def _assign(dispatch: Dispatch, supporter_id: UUID | None = None) -> UUID:
    supporter_id = supporter_id or uuid4()
    dispatch.assign(supporter_id=supporter_id, registration_number="2016-001",
                    roster_entry_id=RosterEntry.id_for(CHIYODA, supporter_id), assigned_on=ASSIGNED_ON)
    return supporter_id


def _consent(dispatch: Dispatch, **overrides: Any) -> UUID:
    arguments: dict[str, Any] = {
        "consent_id": uuid4(), "given_by": "person", "items": ["name", "contact", "consultation"],
        "support_meetings": True, "costs_self_paid": True, "signed_on": SIGNED_ON,
    }
    arguments.update(overrides)
    dispatch.record_subject_consent(**arguments)
    consent_id: UUID = arguments["consent_id"]
    return consent_id


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


def _report(dispatch: Dispatch, supporter_id: UUID, **overrides: Any) -> UUID:
    arguments: dict[str, Any] = {
        "report_id": uuid4(), "supporter_id": supporter_id, "reported_on": ACTIVITY_DAY,
        "activity_date": ACTIVITY_DAY,
        "starts_at": "14:00", "ends_at": "15:30", "activity_type": "visit", "activity_type_other": None,
        "next_step": "continue", "next_step_other": None, "narrative": {"sealed": "ciphertext"},
    }
    arguments.update(overrides)
    dispatch.report_activity(**arguments)
    report_id: UUID = arguments["report_id"]
    return report_id


def _missing(excinfo: pytest.ExceptionInfo) -> list[str]:
    return excinfo.value.extensions["missing"]
