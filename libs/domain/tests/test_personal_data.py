"""The rules every aggregate holding a person's data shares (利用停止・消去, retention), on a plain
object: the mix-in needs no eventsourcing, the aggregates' own tests show their events."""

from __future__ import annotations

from datetime import date

import pytest

from libs.domain.errors import Conflict, InvalidInput
from libs.domain.personal_data import UseSuspension


class Record(UseSuspension):
    DATA_NAME = "the record's data"
    INVALID_INPUT = InvalidInput

    def __init__(self, ended_on: date | None) -> None:
        self.ended_on = ended_on
        self.erased = False
        self.use_suspended = False
        self.recorded: list[str] = []

    def _retention_starts_on(self) -> date | None:
        return self.ended_on

    def _wrong_status(self, detail: str) -> Conflict:
        return Conflict(detail)

    def _erased(self, erased_on: date, basis: str) -> None:
        self.recorded.append(f"erased:{basis}")
        self.erased = True

    def _use_suspended(self, suspended_on: date) -> None:
        self.recorded.append("suspended")
        self.use_suspended = True

    def _use_resumed(self, resumed_on: date) -> None:
        self.recorded.append("resumed")
        self.use_suspended = False


def test_data_is_erased_once_and_only_for_a_known_reason() -> None:
    record = Record(ended_on=date(2017, 1, 10))
    with pytest.raises(InvalidInput):
        record.erase(erased_on=date(2017, 2, 1), basis="asked_nicely")
    record.erase(erased_on=date(2017, 2, 1), basis="request_granted")
    with pytest.raises(Conflict, match="the record's data was erased already"):
        record.erase(erased_on=date(2017, 2, 2), basis="retention_ended")
    assert record.recorded == ["erased:request_granted"]


def test_retention_ends_the_day_after_the_years_have_passed_and_never_while_in_use() -> None:
    assert not Record(ended_on=None).retention_ended(date(2099, 1, 1), 3)
    record = Record(ended_on=date(2017, 1, 10))
    assert not record.retention_ended(date(2020, 1, 10), 3)
    assert record.retention_ended(date(2020, 1, 11), 3)
    record.erase(erased_on=date(2020, 1, 11), basis="retention_ended")
    assert not record.retention_ended(date(2030, 1, 1), 3)


def test_use_is_suspended_and_resumed_in_turn() -> None:
    record = Record(ended_on=None)
    with pytest.raises(Conflict, match="not suspended"):
        record.resume_use(resumed_on=date(2017, 1, 1))
    record.suspend_use(suspended_on=date(2017, 1, 1))
    with pytest.raises(Conflict, match="suspended already"):
        record.suspend_use(suspended_on=date(2017, 1, 2))
    record.resume_use(resumed_on=date(2017, 1, 3))
    assert record.recorded == ["suspended", "resumed"]
