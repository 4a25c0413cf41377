"""後方支援・立ち上げ支援 rules: a prefecture backs up municipalities inside it; staff dispatched
names the role and the days."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from services.intake.domain.backup import Backup
from services.intake.domain.errors import InvalidProgramme

TOKYO, CHIYODA, OSAKA_CITY = "130001", "131016", "271004"


def _give(**overrides: object) -> Backup:
    arguments: dict[str, Any] = {
        "id": uuid4(), "tenant": TOKYO, "municipality": CHIYODA, "kind": "staff_dispatched",
        "given_on": date(2024, 5, 1), "centre_id": None, "programme_id": None,
        "staff_role": "municipal_support_worker", "staff_days": 2, "note": None,
    }
    arguments.update(overrides)
    return Backup.give(**arguments)


def test_staff_dispatched_records_the_role_and_the_days() -> None:
    backup = _give()
    assert (backup.kind, backup.staff_role, backup.staff_days) == ("staff_dispatched", "municipal_support_worker", 2)
    assert [type(e).__name__ for e in backup.collect_events()] == ["PrefecturalBackupGiven"]


@pytest.mark.parametrize("overrides", [
    {"tenant": CHIYODA},  # a municipality gives no prefectural back-up
    {"municipality": OSAKA_CITY},  # outside the prefecture
    {"municipality": TOKYO},  # a prefecture is not backed up by itself
    {"kind": "fundraising"},
    {"staff_role": None}, {"staff_days": 0}, {"staff_role": "volunteer"},
    {"kind": "advice"},  # staff fields belong to staff dispatched only
])
def test_back_up_outside_the_rules_is_refused(overrides: dict) -> None:
    with pytest.raises(InvalidProgramme):
        _give(**overrides)


def test_other_kinds_need_no_staff() -> None:
    assert _give(kind="startup_support", staff_role=None, staff_days=None).kind == "startup_support"
