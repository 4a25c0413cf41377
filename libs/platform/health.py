"""Liveness of every background loop (DESIGN §8): relays, consumers, log followers, jobs.

Each loop owns one `LoopHealth` and tells it what it sees: its position, the end of what it
follows (stream or log), a failure, or a round that found nothing to do. `/readyz` and
`/metrics` read these in memory, so a stuck database or bus never makes health checks hang.

Progress is defined so that a busy loop is not mistaken for a stuck one: the loop made progress
when everything that was pending at the last mark has been handled (its position reached the
end it saw then) or its lag is below the lag at the mark; a new mark is set at that moment. A loop
whose lag is above zero and which has not made progress for `stall_seconds` is stalled, whether it
fails, hangs, waits for a message that never comes, or only falls further behind. A loop that fails
`max_failures` times in a row is failing even before that (a permanent fault should not wait for
the stall timer).

A loop whose last round failed does not know where it stands: the end it saw before may have moved
(a consumer that cannot reach its stream during a leader election still shows the end of its last
fetch), or what it did may not have happened (a relay whose PubAcks did not come: the stream may
hold less than its position says). Its lag is then the last one known, and its state is `retrying`,
never `ok`, until a round succeeds again: "lag 0, ok" is said only of a position confirmed by the
round that saw it. It is not unready for it (one failure is a hiccup); `max_failures` in a row is.

A replay (a projection rebuilt from the start of its streams) is one long backlog: it would be
called stalled after `stall_seconds` although it advances. While `replaying`, progress is the
position moving; `replay_target` is where the replay ends.

With several replicas (libs/platform/lease.py) a loop runs only where its role's lease is held;
elsewhere it is on standby: never stuck, its lag not counted, its lease (holder, generation,
expiry, how long no replica has held it) reported; in a web-only replica (TSUNAGU_BACKGROUND=off)
always, with the reason.

A loop can also be *superseded*: a replica of a newer release took its work over (a projection
whose tables the newer release keeps more of, readmodels/stamps.py). It stops for good in this
replica, gives up its lease and makes the replica unready with the reason, on standby or not,
until the replica is replaced.

A loop can also block *inside* a round: a statement waiting on a table lock, a driver call that
never returns. It then neither observes nor fails, and the lag it last saw may be 0, so the tests
above would call it fine for ever. Each loop therefore wraps the work of a round (not its idle wait
for messages) in `round()`: a round that has run for `stall_seconds` without the position moving is
stuck (`seconds_in_round`, in /readyz and `tsunagu_loop_round_seconds`). A job's round may sweep for
long (a year's retention ends at once): it is stuck when no round ended for its period plus the stall time.

A loop can also find that what it follows *lost* messages (`missing`): our streams keep every
event forever (DESIGN §2), so a message deleted or purged from one is never normal. The loop goes
on (the pipeline does not stop for it) but makes the service unready with the reason (which
stream, how many, what to run) until the stream holds no hole (messaging/stream_gaps.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


class LoopSuperseded(Exception):
    """This replica's code may no longer run the loop: a newer release's replica took its work over.
    The loop stops for good here (its lease released, never taken again) and says why."""


@dataclass
class LoopHealth:
    kind: str  # relay, consumer, follower, job, listener
    name: str  # the stream, durable, read model or job it is
    stream: str = ""
    # A job runs every `period` seconds: it is stuck when no round ended for longer than that.
    period: float | None = None
    position: int = 0
    end: int = 0
    failures: int = 0  # consecutive
    failures_total: int = 0
    handled_total: int = 0
    # A consumer's: non-empty fetches from the server, and apply transactions tried (committed or
    # not). Transactions per fetch is what failures cost (messaging/consumer_batches.py).
    fetches_total: int = 0
    transactions_total: int = 0
    last_error: str = ""
    replaying: bool = False
    replay_target: int = 0
    # What the loop waits for before it can start (e.g. "stream INTAKE", which only its producer
    # creates): unready until it is there, shown in /readyz.
    waiting_for: str = ""
    # The lease of this loop's role, when replicas share the work: a function that reports it
    # (state active or standby, holder, generation, expires_in).
    lease: Callable[[], dict[str, Any]] | None = None
    # Why the loop stopped for good in this replica (LoopSuperseded); unready while set.
    superseded: str = ""
    # Messages missing from the stream it follows, and why that makes the service unready (0, "":
    # none); set by the loop at every look at the stream (messaging/stream_gaps.py).
    missing: int = 0
    missing_reason: str = ""
    _mark_end: int = 0
    _mark_lag: int = 0
    _mark_at: float = field(default_factory=time.monotonic)
    _beat_at: float = field(default_factory=time.monotonic)
    _moved_at: float = field(default_factory=time.monotonic)
    _round_at: float | None = None  # when the round under way started (None: between rounds)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def role(self) -> str:
        """The name of this loop's lease."""
        return f"{self.kind}:{self.name}"

    @property
    def standby(self) -> bool:
        return self.lease is not None and self.lease()["state"] == "standby"

    @property
    def lag(self) -> int:
        return max(self.end - self.position, 0)

    def observe(self, position: int, end: int | None = None, *, handled: int = 0) -> None:
        """The loop's position now and the end of what it follows (None: unchanged, at least
        the position)."""
        now = time.monotonic()
        with self._lock:
            self.handled_total += handled
            if position != self.position:
                self._moved_at = now
            self.position = position
            self.end = max(end if end is not None else self.end, position)
            self._beat_at = now
            # Progress: everything pending at the mark is done, or the lag is below the lag at
            # the mark (a long backlog being worked off is not stuck).
            if self.position >= self._mark_end or self.lag < self._mark_lag:
                self._mark_end, self._mark_at, self._mark_lag = self.end, now, self.lag

    def succeeded(self) -> None:
        """A round ended without error (it may have had nothing to do)."""
        with self._lock:
            self.failures = 0
            self._beat_at = time.monotonic()

    def failed(self, error: BaseException | str, *, counted: bool = True) -> None:
        """A round failed. Not `counted`: a further failure of work already counted as failing (a
        bisection's halves, messaging/consumer_batches.py), only the error kept."""
        with self._lock:
            self.failures += counted
            self.failures_total += counted
            self.last_error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"[:500]
            self._beat_at = time.monotonic()

    @contextlib.contextmanager
    def round(self) -> Iterator[None]:
        """The work of one round (not the wait for work): stuck if it runs for `stall_seconds`
        without the position moving."""
        self._round_at = time.monotonic()
        try:
            yield
        finally:
            self._round_at = None

    def seconds_in_round(self) -> float:
        """How long the round under way has run since it started or the position last moved,
        whichever is later (0 between rounds)."""
        started = self._round_at
        if started is None:
            return 0.0
        return max(time.monotonic() - max(started, self._moved_at), 0.0)

    def seconds_since_progress(self) -> float:
        """0 while caught up; else how long the oldest pending work has been waiting (at least), or
        while replaying how long the position has not moved."""
        if self.lag == 0:
            return 0.0
        return time.monotonic() - (self._moved_at if self.replaying else self._mark_at)

    def problem(self, *, stall_seconds: float, max_failures: int) -> str | None:
        """Why this loop makes the service unready, or None (never on standby: another replica runs
        it; unless superseded: this replica's code is too old to run it, whoever does)."""
        if self.superseded:
            return self.superseded
        if self.standby:
            return None
        if self.waiting_for:
            return f"waiting for {self.waiting_for}"
        if self.missing:
            return self.missing_reason
        if self.failures >= max_failures:
            return f"{self.failures} failures in a row at position {self.position}: {self.last_error}"
        waited = self.seconds_since_progress()
        if waited > stall_seconds:
            return f"lag {self.lag} has not shrunk for {waited:.0f} s (at position {self.position})"
        in_round = self.seconds_in_round()  # with nothing pending known, the round under way tells
        if in_round > stall_seconds and self.period is None:  # a job: judged by its period, below
            return f"a round has run for {in_round:.0f} s without progress (at position {self.position})"
        if self.period is not None and time.monotonic() - self._beat_at > self.period + stall_seconds:
            return f"no round ended for {time.monotonic() - self._beat_at:.0f} s"
        return None

    @property
    def confirmed(self) -> bool:
        """Whether the last round succeeded, so that position and end are as it saw them (not a
        guess kept from before a failure)."""
        return self.failures == 0

    def state(self, problem: str | None) -> str:
        """stuck (the service is unready for it), retrying (its last round failed: where it stands
        is not known) or ok. A standby loop is reported as such by report()."""
        return "stuck" if problem else "ok" if self.confirmed else "retrying"

    def report(self, *, stall_seconds: float, max_failures: int) -> dict:
        problem = self.problem(stall_seconds=stall_seconds, max_failures=max_failures)
        body = {
            "kind": self.kind, "name": self.name, "position": self.position, "end": self.end, "lag": self.lag,
            "seconds_since_progress": round(self.seconds_since_progress(), 1),
            "seconds_in_round": round(self.seconds_in_round(), 1),
            "consecutive_failures": self.failures, "state": self.state(problem),
        }
        if self.stream:
            body["stream"] = self.stream
        if self.waiting_for:
            body["waiting_for"] = self.waiting_for
        if self.lease is not None:
            body["lease"] = lease = self.lease()
            if lease["state"] == "standby":
                body["state"] = "standby"
        if self.superseded:
            body["state"], body["superseded"] = "superseded", True
        if self.missing:
            body["missing"] = self.missing
        if self.replaying:
            body["replaying"] = True
            body["replay_target"] = self.replay_target
            body["replay_remaining"] = max(self.replay_target - self.position, 0)
        if self.last_error and self.failures:
            body["last_error"] = self.last_error
        if problem:
            body["problem"] = problem
        return body
