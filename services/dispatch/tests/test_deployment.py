"""Deployment rules: a supporter at a place, a programme or an agency (居場所運営等へのサポーター派遣)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from services.dispatch.domain.deployment import Deployment
from services.dispatch.domain.errors import (
    DispatchNotActive,
    DispatchNotReady,
    InvalidDispatchInput,
    WrongDispatchStatus,
)

CHIYODA = "131016"
STARTS = date(2024, 5, 1)
ENDS = date(2024, 9, 30)


def _deploy(**overrides: Any) -> Deployment:
    arguments: dict[str, Any] = {
        "id": uuid4(), "tenant": CHIYODA, "supporter_id": uuid4(), "registration_number": "001",
        "roster_entry_id": uuid4(), "target_kind": "place", "target_id": uuid4(), "target_name": "居場所つなぐ",
        "role": "place_operation", "starts_on": STARTS, "ends_on": ENDS,
    }
    arguments.update(overrides)
    return Deployment.deploy(**arguments)


def _report(d: Deployment, **overrides: Any) -> None:
    arguments: dict[str, Any] = {
        "report_id": uuid4(), "supporter_id": d.supporter_id, "reported_on": date(2024, 6, 2),
        "activity_date": date(2024, 6, 1), "starts_at": "13:00", "ends_at": "16:00", "participants": 7,
        "narrative": {"sealed": "x"},
    }
    arguments.update(overrides)
    d.report_activity(**arguments)


def _running() -> Deployment:
    d = _deploy()
    d.accept(supporter_id=d.supporter_id, accepted_on=STARTS, supporter_problems=[])
    return d


def test_a_deployment_is_planned_until_the_supporter_accepts() -> None:
    d = _deploy()
    assert d.status == "planned"
    with pytest.raises(DispatchNotActive):
        _report(d)
    d.accept(supporter_id=d.supporter_id, accepted_on=STARTS, supporter_problems=[])
    assert d.status == "active"
    assert [type(e).__name__ for e in d.collect_events()] == ["SupporterDeployed", "DeploymentAccepted"]


def test_only_the_deployed_supporter_accepts_and_reports() -> None:
    d = _deploy()
    with pytest.raises(WrongDispatchStatus):
        d.accept(supporter_id=uuid4(), accepted_on=STARTS, supporter_problems=[])
    d.accept(supporter_id=d.supporter_id, accepted_on=STARTS, supporter_problems=[])
    with pytest.raises(WrongDispatchStatus):
        _report(d, supporter_id=uuid4())


def test_a_supporter_whose_registration_ended_cannot_accept() -> None:
    d = _deploy()
    with pytest.raises(DispatchNotReady) as caught:
        d.accept(supporter_id=d.supporter_id, accepted_on=STARTS, supporter_problems=["registration ended (revoked)"])
    assert caught.value.extensions["missing"] == ["supporter_eligible: registration ended (revoked)"]
    assert d.status == "planned"


def test_unknown_codes_and_a_period_ending_before_it_starts_are_refused() -> None:
    with pytest.raises(InvalidDispatchInput):
        _deploy(target_kind="person")
    with pytest.raises(InvalidDispatchInput):
        _deploy(role="home_visit")
    with pytest.raises(InvalidDispatchInput):
        _deploy(ends_on=date(2024, 4, 30))


def test_reports_are_counted_once_and_only_inside_the_period() -> None:
    d = _running()
    report_id = uuid4()
    _report(d, report_id=report_id)
    _report(d, report_id=report_id)  # a retry
    assert len(d.reports) == 1
    with pytest.raises(InvalidDispatchInput):
        _report(d, activity_date=date(2024, 10, 1), reported_on=date(2024, 10, 1))
    with pytest.raises(InvalidDispatchInput):
        _report(d, starts_at="16:00", ends_at="13:00")
    with pytest.raises(InvalidDispatchInput):
        _report(d, participants=-1)


def test_an_ended_deployment_takes_no_reports_and_ends_once() -> None:
    d = _running()
    assert d.end(reason="supporter_registration_revoked", ended_on=date(2024, 7, 1), cause_event_id="e1")
    assert not d.end(reason="completed", ended_on=date(2024, 7, 2))
    assert d.end_reason == "supporter_registration_revoked"
    with pytest.raises(DispatchNotActive):
        _report(d)
    with pytest.raises(InvalidDispatchInput):
        _running().end(reason="bored", ended_on=date(2024, 7, 1))
