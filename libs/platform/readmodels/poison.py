"""An event a log follower can never apply (a string PostgreSQL's text refuses, stored before the
input was checked; a handler's bug; a row the read model's constraints refuse) no longer stops its
read model for good. The follower (follower.py) does what the consumer runner does with a poison
message, with the same code:

- a batch that fails for the infrastructure (messaging/transient.py: the database gone or locked, a
  lease lost), or because another writer recorded the position further, says nothing about its
  events: the round fails and the next one tries it again, as long as it takes; nothing is ever
  dead-lettered for it;
- any other failure: the bisection of messaging/bisection.py (once more as it is, then halves)
  finds the event that fails alone; that one is tried alone, one attempt per round, and after
  `max_attempts` (TSUNAGU_CONSUMER_MAX_DELIVER) it is dead-lettered: an open dead letter in the
  service's `dead_letters` table (consumer: the read model's name, stream: `<service>-log`,
  position: its log position, reason: the error), its position recorded as skipped with no effect
  (`skipped_messages`), and the follower goes on with the events after it (nothing is published
  on `deadletter.<name>` as a consumer does: a follower works while NATS is down; the table is
  the record readiness reads);
- the service is unready while the dead letter is open (/readyz `dead_lettered`, /metrics
  `tsunagu_dead_letters_open`); an operator lists it (GET /v1/ops/dead-letters, `tsunagu
  dead-letters list`), fixes the cause, and resolves it (POST
  /v1/ops/dead-letters/{consumer}/{stream}/{position}/resolution, `tsunagu dead-letters resolve`).
  The read model stays without that event's effect until it is rebuilt from the log (deploy/README,
  *Dead letters*).

A read after a write (Runtime.catch_up) applies the log as the loop does, bisection and attempts
included, but never waits on the event that fails alone nor raises for it: it stops just before
it, and the request reads the read model as it is (that event's effect cannot be there until the
cause is fixed; the loop dead-letters it meanwhile). A replica standing by waits until the holder
has recorded a position past it, which a dead letter's skip does.

Without a dead-letter table (a follower built alone, in a test) nothing is dead-lettered: the
event is tried again for ever, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from libs.platform.health import LoopHealth
from libs.platform.messaging.bisection import Bisection
from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.deadletters import DeadLetters, plain
from libs.platform.messaging.delivery import Handler
from libs.platform.messaging.transient import is_transient
from libs.platform.readmodels.projection import StalePosition

log = logging.getLogger("libs.platform.readmodels.follower")  # one logger for the follower

ApplyBatch = Callable[[list[Envelope], str, int], None]


def not_the_events(e: Exception) -> bool:
    """A failure that says nothing about the events: the infrastructure's, or a position recorded
    further by another writer (StalePosition: the round ends and the position is read again)."""
    return is_transient(e) or isinstance(e, StalePosition)


class Poison:
    """A follower's failed batches and the event that fails alone."""

    def __init__(self, handler: Handler, stream: str, health: LoopHealth, dead_letters: DeadLetters | None,
                 max_attempts: int) -> None:
        self.handler = handler
        self.stream = stream
        self.health = health
        self.dead_letters = dead_letters
        self.max_attempts = max_attempts
        self.bisection = Bisection()
        self.dead_lettered = 0
        self._attempts = (0, 0)  # (position, failed attempts) of the event tried alone last

    @property
    def who(self) -> str:
        return f"follower {self.stream}/{self.handler.name}"

    def batch(self, apply_batch: ApplyBatch, envelopes: list[Envelope]) -> bool:
        """Apply consecutive events in one transaction: whether they were; False when they failed
        for a reason of their own (the bisection goes on); an infrastructure failure is raised."""
        try:
            apply_batch(envelopes, self.stream, envelopes[-1].sequence)
        except Exception as e:
            if not_the_events(e):
                raise
            self.bisection.failed(self.health, e, size=len(envelopes), last=envelopes[-1].sequence, who=self.who,
                                  log=log)
            return False
        self.bisection.applied()
        return True

    def alone(self, envelope: Envelope, *, waiting: bool) -> bool:
        """Apply one event in a transaction of its own: whether it is behind us (applied or, after
        its last attempt, dead-lettered). A failed attempt is raised (the loop's round fails and the
        next one tries again); a read-your-writes caller (`waiting`) gets False instead."""
        try:
            self.handler.apply(envelope, self.stream, envelope.sequence)
        except Exception as e:
            if not_the_events(e) or self.dead_letters is None:
                raise
            position, attempts = self._attempts
            attempts = attempts + 1 if position == envelope.sequence else 1
            self._attempts = (envelope.sequence, attempts)
            if attempts < self.max_attempts:
                log.error("%s: position %s failed alone (attempt %s of %s): %s: %s", self.who, envelope.sequence,
                          attempts, self.max_attempts, type(e).__name__, e)
                if waiting:
                    return False
                raise
            self._dead_letter(self.dead_letters, envelope, e)
        self._attempts = (0, 0)
        self.bisection.applied()
        return True

    def _dead_letter(self, dead_letters: DeadLetters, envelope: Envelope, e: Exception) -> None:
        """Kept open in the dead-letter table first, then the position moved past it (a crash between
        the two: the event is tried again and recorded once)."""
        reason = plain(f"{type(e).__name__}: {e}")
        dead_letters.record(consumer=self.handler.name, stream=self.stream, position=envelope.sequence,
                                 reason=reason)
        self.handler.skip(self.stream, envelope.sequence, reason)
        self.dead_lettered += 1
        self.health.succeeded()  # progress: the failures before it were this event's
        log.error("%s: position %s (%s) dead-lettered: %s", self.who, envelope.sequence, envelope.type, reason)
