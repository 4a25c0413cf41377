"""The search for the one event of a failed batch that fails alone: one copy for the consumer runner
(consumer_batches.py, over its buffer of stream sequences) and the log followers
(readmodels/follower.py, over a read of the log's positions).

A batch that fails for a reason of its own (not the infrastructure's: transient.py) is tried once
more as it is (a race lost to another writer, a rebuild's fence); then the shortest prefix known to
fail is halved: half applied (one transaction, committed) moves the search past it, half failed
becomes the prefix known to fail. A prefix of two or three is tried one event at a time; an event
that fails alone is the culprit, which the caller tries alone up to its limit of attempts and then
dead-letters (messaging/deadletters.py). One poison event in n costs O(log n) transactions.

Failures in a row (health, /readyz: unready at TSUNAGU_MAX_LOOP_FAILURES): a bisection counts as
one, however many halves fail; the culprit's attempts alone count each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from libs.platform.health import LoopHealth


class Bisection:
    def __init__(self) -> None:
        # Position of the last event of the shortest prefix known to fail in one transaction (None:
        # none known); and whether the batch tried last failed once already.
        self.fails_through: int | None = None
        self.failed_once = False

    def reset(self) -> None:
        """What was known to fail is forgotten (the positions may now be another's: a rebuild)."""
        self.fails_through, self.failed_once = None, False

    def length(self, positions: Sequence[int]) -> int:
        """How many of the pending events (their positions, in order) the next transaction applies:
        all of them, or half the prefix known to fail (1: the first alone)."""
        if self.fails_through is not None:
            failing = sum(1 for p in positions if p <= self.fails_through)
            if failing:
                return max(failing // 2, 1)
            self.fails_through = None  # the culprit is behind us (applied or dead-lettered)
        return len(positions)

    def applied(self) -> None:
        self.failed_once = False

    def failed(self, health: LoopHealth, e: Exception, *, size: int, last: int, who: str,
               log: logging.Logger) -> None:
        """A batch of `size` events up to position `last` failed, not for the infrastructure."""
        # One failure for the whole bisection: its halves failing say nothing new, and half of them
        # do (one poison in 2,000: ~9 in a row, near the limit of 10, while halves committed).
        starting = self.fails_through is None and not self.failed_once
        health.failed(e, counted=starting)
        if starting:
            self.failed_once = True  # once more as it is
            log.info("%s: batch of %s up to %s failed (%s); trying it once more", who, size, last, e)
            return
        self.failed_once = False
        self.fails_through = last  # bisect: half of it next
        log.info("%s: batch of %s up to %s failed (%s); halving it", who, size, last, e)
