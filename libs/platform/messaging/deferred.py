"""The background loops' one clock for a record put off (issue 15: a write transaction that only
moves a position, once per round, was most of the loops' commits).

A loop that moved past something without writing (a log follower's or a consumer's batch that
changes nothing, a relay's acknowledged round) keeps what it owes the database here: the value to
record, since when and for how many items. The owner records it with its next write when it has
one, and on its own once `seconds` have passed or a batch's worth of items is owed; `wait` is how
long its idle wait may last before that. Taking the value (`take`) clears the clock: a record that
then fails owes nothing more here, and the owner falls back to what its database says.
"""

from __future__ import annotations

import time
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class DeferredRecord(Generic[T]):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.value: T | None = None  # what is owed (None: nothing)
        self._since: float | None = None
        self._items = 0

    @property
    def owed(self) -> bool:
        return self._since is not None

    def keep(self, value: T, items: int) -> None:
        """Owe `value` (the latest replaces the earlier: it covers them), `items` more of them."""
        self.value = value
        self._items += items
        if self._since is None:
            self._since = time.monotonic()

    def due(self, batch: int) -> bool:
        """Whether to record now: `seconds` have passed, or `batch` items (the owner's batch size,
        which tests change on a running loop) are owed."""
        since = self._since
        return since is not None and (time.monotonic() - since >= self.seconds or self._items >= batch)

    def wait(self, idle: float) -> float:
        """How long an idle wait of `idle` seconds may last: less when the record falls due sooner."""
        since = self._since
        if since is None:
            return idle
        return max(min(idle, since + self.seconds - time.monotonic()), 0.0)

    def take(self) -> T | None:
        """What is owed, and nothing owed any more."""
        value = self.value
        self.clear()
        return value

    def clear(self) -> None:
        self.value, self._since, self._items = None, None, 0


class RecordSeconds:
    """A loop's `record_seconds`, kept by its DeferredRecord in attribute `clock` (tests change them
    on a running loop)."""

    def __init__(self, clock: str) -> None:
        self.clock = clock

    def __get__(self, owner: Any, kind: Any = None) -> float:
        return float(getattr(owner, self.clock).seconds)

    def __set__(self, owner: Any, seconds: float) -> None:
        getattr(owner, self.clock).seconds = seconds
