"""What a person may ask of the data an aggregate holds about them, and how long it is kept:
利用停止 and 消去 (APPI 第35条), and the end of retention after which the data is erased.

One copy of these rules for the case, the supporter and the dispatch. The aggregate records the
events with its own contracts (`_erased`, `_use_suspended`, `_use_resumed`: `@event` methods of the
aggregate) and keeps `erased` and `use_suspended` in its state. A dispatch's data is erased but its
use is not suspended on its own: the dispatch itself is suspended or ended.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from libs.domain.errors import Conflict, DataErased, InvalidInput
from libs.domain.fiscal import add_years

# Why personal data may be erased: the retention period ended, or the person's request was granted.
ERASURE_BASES = ("retention_ended", "request_granted")


class PersonalData:
    """Mix-in of an aggregate that holds a person's personal data: erasure and retention."""

    # How problems name the data ("the case's personal data"), and the problem type of a bad
    # input: each service keeps its own, as it keeps its wrong-status problem (`_wrong_status`).
    DATA_NAME: ClassVar[str]
    INVALID_INPUT: ClassVar[type[InvalidInput]]

    erased: bool

    def erase(self, *, erased_on: date, basis: str) -> None:
        """Record that the person's data is destroyed; the application then forgets the key it
        is sealed under. An aggregate that may erase only in some states checks them first."""
        self._check_erasure(basis)
        self._erased(erased_on=erased_on, basis=basis)

    def _check_erasure(self, basis: str) -> None:
        """What every erasure needs, also one whose event says more (dispatch: what caused it)."""
        if basis not in ERASURE_BASES:
            raise self.INVALID_INPUT("basis must be retention_ended or request_granted")
        if self.erased:
            raise self._wrong_status(f"{self.DATA_NAME} was erased already")

    def retention_ended(self, today: date, years: int) -> bool:
        """Not erased yet, and last needed more than `years` ago. The provision records of the data
        (APPI 規則第20条〜第25条) are kept ≥ 3 years from then, so `years` covers them too."""
        starts_on = self._retention_starts_on()
        return not self.erased and starts_on is not None and add_years(starts_on, years) < today

    def _require_not_erased(self) -> None:
        """A command on erased data: 410, as its sealing would be once the key is destroyed (not the
        aggregate's wrong-status 409: nothing the client can do makes it right)."""
        if self.erased:
            raise DataErased(f"{self.DATA_NAME} was erased")

    def _retention_starts_on(self) -> date | None:
        """The day the retention period starts; None while the data is still in use."""
        raise NotImplementedError

    def _wrong_status(self, detail: str) -> Conflict:
        """The aggregate's wrong-status problem (some name the current status in it)."""
        raise NotImplementedError

    # The events, recorded by the aggregate's `@event` methods of these names.
    def _erased(self, erased_on: date, basis: str) -> None:
        raise NotImplementedError


class UseSuspension(PersonalData):
    """Mix-in of an aggregate whose data's use the person may suspend (利用停止) and resume."""

    use_suspended: bool

    def suspend_use(self, *, suspended_on: date) -> None:
        if self.use_suspended:
            raise self._wrong_status("the use is suspended already")
        self._use_suspended(suspended_on=suspended_on)

    def resume_use(self, *, resumed_on: date) -> None:
        if not self.use_suspended:
            raise self._wrong_status("the use is not suspended")
        self._use_resumed(resumed_on=resumed_on)

    # The events, recorded by the aggregate's `@event` methods of these names.
    def _use_suspended(self, suspended_on: date) -> None:
        raise NotImplementedError

    def _use_resumed(self, resumed_on: date) -> None:
        raise NotImplementedError
