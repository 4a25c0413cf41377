"""How background loops wait: woken when the service's log grows (relay, log followers), or
sleeping until a time or their stop (every loop: `sleep_or_stop`).

The application rings its `CommitSignal` after every save has committed (store/application.py);
each loop holds a `Wakeup` of it and waits on that instead of polling every few milliseconds. The
loops keep a slower poll as a fallback: a write this process did not make (another process on the
same database) rings nothing here, except with replicas on PostgreSQL, where a replica that runs
loops LISTENs to the NOTIFY of every insert and rings on it (store/listen.py).

A ring is never lost: it sets a flag first, so a loop that was busy when it came runs another
round at once. Rounds are spaced by at least `min_interval`, so that under load the commits of
several requests are handled as one batch rather than costing a round each.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class CommitSignal:
    def __init__(self) -> None:
        self._wakeups: list[Wakeup] = []
        self._lock = threading.Lock()
        self.rings = 0  # how often it rang: a read of the log made before the last ring may be stale

    def wakeup(self, *, min_interval: float = 0.0) -> Wakeup:
        wakeup = Wakeup(min_interval=min_interval)
        with self._lock:
            self._wakeups.append(wakeup)
        return wakeup

    def ring(self) -> None:
        """The log grew (called from any thread, after the commit). One hand-off to each event loop
        that waits, whatever the number of its loops waiting there, and none for a loop already rung:
        each `call_soon_threadsafe` writes to the loop's self-pipe and lets the loop's thread take the
        GIL from the saving thread (issue 15: three per command, the relay's and two followers', ~7%
        of a save's wall time at one client)."""
        with self._lock:
            self.rings += 1
            wakeups = list(self._wakeups)
        events: dict[asyncio.AbstractEventLoop, list[asyncio.Event]] = {}
        for wakeup in wakeups:
            if (waiting := wakeup.rung()) is not None:
                events.setdefault(waiting[0], []).append(waiting[1])
        for loop, rung in events.items():
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
                loop.call_soon_threadsafe(_set_all, rung)


def _set_all(events: list[asyncio.Event]) -> None:
    for event in events:
        event.set()


class Wakeup:
    """One loop's side of a CommitSignal: set from any thread, awaited on the loop's event loop."""

    def __init__(self, *, min_interval: float = 0.0) -> None:
        self.min_interval = min_interval
        self._rung = False
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_round = 0.0
        self._stop: asyncio.Event | None = None  # the stop of the run waiting here
        self._watcher: asyncio.Task[None] | None = None

    def _watch_stop(self, stop: asyncio.Event) -> None:
        """Ring this wakeup's event when `stop` is set (one task per run, not per round)."""
        if self._watcher is not None:
            self._watcher.cancel()  # the previous run's: it has ended
        event = self._event
        assert event is not None

        async def watch() -> None:
            await stop.wait()
            event.set()

        self._stop, self._watcher = stop, asyncio.ensure_future(watch())

    def rung(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Event] | None:
        """Note a ring; the loop and event to set on it, or None where none is needed: nobody waits
        yet, or a ring since the last round already set it. That ring's setting may still be on its
        way to the loop, but it was sent after this one's commit, and `wait` clears `_rung` before the
        round reads the log: that round sees this commit too."""
        already, self._rung = self._rung, True
        loop, event = self._loop, self._event
        if already or loop is None or event is None:
            return None
        return loop, event

    async def wait(self, stop: asyncio.Event, timeout: float) -> None:
        """Until rung, stopped or `timeout` seconds; then at least `min_interval` after the
        previous round began. A ring that came during the previous round returns at once."""
        loop = asyncio.get_running_loop()
        if self._event is None or self._loop is not loop:
            self._loop, self._event, self._stop = loop, asyncio.Event(), None
        if self._stop is not stop:  # a new run: its stop rings this wakeup too
            self._watch_stop(stop)
        if not self._rung and not stop.is_set():
            # One event, rung by a commit or by the stop (_watch_stop): no task per round (issue 15:
            # two tasks and asyncio.wait per round were a tenth of a follower's samples).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._event.wait()
        spacing = self._last_round + self.min_interval - time.monotonic()
        if spacing > 0:
            await sleep_or_stop(stop, spacing)
        # Cleared before the round reads the log: a commit from now on rings for the next round.
        self._rung = False
        self._event.clear()
        self._last_round = time.monotonic()


async def sleep_or_stop(stop: asyncio.Event, seconds: float, also: asyncio.Event | None = None) -> None:
    """Sleep `seconds`, or less when `stop` (or `also`) is set: a loop's pause between rounds."""
    if stop.is_set() or (also is not None and also.is_set()):
        return
    if also is None:  # the usual pause: no task made for it (a relay's spacing pauses every round)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()
        return
    waits = [asyncio.ensure_future(stop.wait())] + ([asyncio.ensure_future(also.wait())] if also else [])
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def unless_stopped(awaitable: Awaitable[T], stop: asyncio.Event | None) -> T | None:
    """What `awaitable` gives, or None when `stop` is set first (it is then cancelled)."""
    task = asyncio.ensure_future(awaitable)
    if stop is None:
        return await task
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
    await asyncio.wait([task])
    return None if task.cancelled() else task.result()
