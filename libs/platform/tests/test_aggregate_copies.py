"""The aggregate cache copies an aggregate as deepcopy does (store/cache.copied, issue 15): an
ordinary object attribute by attribute, anything with its own way of being copied by deepcopy."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

import libs.platform.store.cache as cache
from libs.platform.store.cache import copied
from services.intake.domain.case import Case


def _case() -> Case:
    case = Case.open(id=uuid4(), tenant="130001", centre_id=uuid4(), client_kind="person", age_group="adult",
                     personal_details={"alg": "A256GCM", "ct": "..."})
    case.record_consultations([{"consultation_id": uuid4(), "channel": "phone", "consulted_by": "person",
                                "occurred_at": datetime(2015, 5, 1, tzinfo=UTC), "summary": None}])
    return case


def test_an_aggregate_is_copied_as_deepcopy_copies_it_without_deepcopy_of_each_id_and_date(
        monkeypatch: pytest.MonkeyPatch) -> None:
    case = _case()
    case.referrals["r"] = {"to": uuid4(), "on": datetime.now(UTC)}
    case.collect_events()
    expected = copy.deepcopy(case)
    calls: list[Any] = []
    deepcopy = cache.deepcopy

    def counted(value: Any, *memo: Any) -> Any:
        calls.append(value)
        return deepcopy(value, *memo)

    monkeypatch.setattr(cache, "deepcopy", counted)
    got = copied(case)
    assert type(got) is Case and vars(got) == vars(expected)
    # Only the containers are handed to deepcopy: every other attribute is kept as it is.
    assert all(type(v) in (dict, list) for v in calls) and calls
    for name, value in vars(case).items():
        if isinstance(value, (dict, list)):
            assert getattr(got, name) is not value  # its own, to change without touching the cached one
    got.referrals["r"]["to"] = None
    assert case.referrals["r"]["to"] is not None


def test_attributes_that_share_a_value_share_its_copy_as_with_deepcopy() -> None:
    case = _case()
    shared: list[str] = ["x"]
    case.voided_consultations = shared
    case.supporter_requests = {"a": shared}  # type: ignore[dict-item]  # any value, shared
    got = copied(case)
    assert got.supporter_requests["a"] is got.voided_consultations
    assert got.voided_consultations is not shared


class Special:
    def __init__(self) -> None:
        self.items = [1]

    def __deepcopy__(self, memo: dict[int, Any]) -> Special:
        made = Special()
        made.items = ["made by __deepcopy__"]  # type: ignore[list-item]
        return made


class Slotted:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items = [1]


def test_an_object_with_its_own_way_of_being_copied_is_left_to_deepcopy() -> None:
    assert copied(Special()).items == ["made by __deepcopy__"]
    slotted = Slotted()
    got = copied(slotted)
    assert got.items == [1] and got.items is not slotted.items
