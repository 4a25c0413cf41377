"""A commuting creation without If-Match (a consultation) runs first on the case as the replica's
cache holds it, without reading the events after it (store/cache.py, trusted loads;
store/creating.py): its save proves the case was current, and when another replica had moved it
on, the save fails on the unique index and the command runs again on the case read again. A
refusal that came from the outdated case is asked again of the store."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from libs.platform.tests.test_aggregate_cache import _open_case, _record
from services.intake.domain.errors import WrongCaseStatus

CLOSED_ON = date(2016, 6, 1)


def _event_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT") and "intake_events" in s]


def test_a_consultation_on_a_cached_case_reads_none_of_its_events(replicas: Any) -> None:
    first, _second, statements = replicas
    case_id, actor = _open_case(first)  # saved, so cached
    statements.clear()
    recorded = _record(first, actor, case_id)
    assert (recorded.case.version, recorded.case.consultation_count) == (2, 1)
    assert _event_reads(statements) == []
    assert [e.originator_version for e in first.recorder.select_events(case_id)] == [1, 2]


def test_a_consultation_on_a_case_another_replica_moved_on_is_recorded_after_its_write(replicas: Any) -> None:
    first, second, _statements = replicas
    case_id, actor = _open_case(first)  # cached by the first at version 1
    _record(second, actor, case_id, summary="先の相談")  # version 2, in the other replica
    recorded = _record(first, actor, case_id)
    assert (recorded.case.version, recorded.case.consultation_count) == (3, 2)
    assert [e.originator_version for e in first.recorder.select_events(case_id)] == [1, 2, 3]
    assert first.repository.get(case_id).version == 3


def test_a_refusal_by_the_outdated_cached_case_is_asked_again_of_the_store(replicas: Any) -> None:
    first, second, _statements = replicas
    case_id, actor = _open_case(first)
    first.close_case(actor, case_id, expected_version=None, reason="resolved", closed_on=CLOSED_ON)  # cached closed
    second.reopen_case(actor, second.repository.get(case_id).id, reopened_on=CLOSED_ON)  # open again, version 3
    recorded = _record(first, actor, case_id)  # the cached case refuses it; the stored one takes it
    assert (recorded.case.version, recorded.case.status, recorded.case.consultation_count) == (4, "open", 1)


def test_a_refusal_the_store_confirms_is_answered(replicas: Any) -> None:
    first, second, _statements = replicas
    case_id, actor = _open_case(first)  # cached open
    second.close_case(actor, case_id, expected_version=None, reason="resolved", closed_on=CLOSED_ON)
    with pytest.raises(WrongCaseStatus):
        _record(first, actor, case_id)
    assert [e.originator_version for e in first.recorder.select_events(case_id)] == [1, 2]
