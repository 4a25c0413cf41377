"""Aggregates of the registry built in a given state for the domain tests (no database)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TypeVar
from uuid import uuid4

from libs.domain import registry
from services.registry.domain.course import TrainingCourse
from services.registry.domain.supporter import Supporter

TOKYO = "130001"  # 東京都 (check digit 1)
CHIYODA = "131016"  # 千代田区 (check digit 6)
APPLIED_ON = date(2016, 6, 1)
ISSUED_ON = date(2016, 7, 1)


E = TypeVar("E")


def _names(events: Sequence[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def _of(kind: type[E], events: Sequence[object]) -> list[E]:
    """The events, each checked to be a `kind` (collect_events types them only as events)."""
    assert all(isinstance(e, kind) for e in events), _names(events)
    return [e for e in events if isinstance(e, kind)]


def _all_consent() -> dict[str, bool]:
    return dict.fromkeys(registry.CONSENT_ITEMS, True)


def _course(**overrides: object) -> TrainingCourse:
    arguments: dict[str, object] = {
        "id": uuid4(), "tenant": TOKYO, "kind": "initial", "title": "ひきこもりサポーター養成研修",
        "starts_on": date(2016, 5, 10), "ends_on": date(2016, 5, 31), "venue": "都庁第一本庁舎",
    }
    arguments.update(overrides)
    return TrainingCourse.schedule(**arguments)  # type: ignore[arg-type]


def _apply(**overrides: object) -> Supporter:
    arguments: dict[str, object] = {
        "id": uuid4(), "tenant": TOKYO, "certificate_number": "2016-0001", "applied_on": APPLIED_ON,
        "applicant": {"sealed": "ciphertext"}, "consent_id": uuid4(), "consent_items": _all_consent(),
        "consent_text_version": "資料4-v1", "signed_on": APPLIED_ON,
    }
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
    arguments: dict[str, object] = {
        "consent_id": uuid4(), "consent_items": _all_consent(), "consent_text_version": "資料4-v2",
        "issued_on": date(2018, 7, 10), "term_years": 2, "max_term_years": 3,
    }
    arguments.update(overrides)
    supporter.renew(**arguments)  # type: ignore[arg-type]


# Every status a supporter's record can be in, by name.
BUILDERS = {"applied": _applied, "registered": _registered, "expired": _expired, "refused": _refused,
            "withdrawn": _withdrawn, "revoked": _revoked}
