"""The commit signal that wakes the loops following a service's log (store/commits.py)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from libs.platform.store.commits import CommitSignal

AN_HOUR = 3600.0


def test_a_ring_from_another_thread_wakes_a_waiting_loop():
    async def main() -> None:
        signal, stop = CommitSignal(), asyncio.Event()
        wakeup = signal.wakeup()
        waiting = asyncio.ensure_future(wakeup.wait(stop, AN_HOUR))
        await asyncio.sleep(0)  # it waits now
        threading.Thread(target=signal.ring).start()
        await asyncio.wait_for(waiting, timeout=30)

    asyncio.run(main())


def test_a_ring_during_a_round_is_not_lost_the_next_wait_returns_at_once():
    async def main() -> None:
        signal, stop = CommitSignal(), asyncio.Event()
        wakeup = signal.wakeup()
        signal.ring()  # a commit while the loop was busy with its round
        await asyncio.wait_for(wakeup.wait(stop, AN_HOUR), timeout=30)
        waiting = asyncio.ensure_future(wakeup.wait(stop, AN_HOUR))  # nothing rang since
        await asyncio.sleep(0.05)
        assert not waiting.done()
        stop.set()
        await asyncio.wait_for(waiting, timeout=30)

    asyncio.run(main())


def test_stopping_ends_a_wait_for_a_ring():
    async def main() -> None:
        wakeup, stop = CommitSignal().wakeup(), asyncio.Event()
        waiting = asyncio.ensure_future(wakeup.wait(stop, AN_HOUR))
        await asyncio.sleep(0)
        stop.set()
        await asyncio.wait_for(waiting, timeout=30)

    asyncio.run(main())


class _CountingLoop(asyncio.SelectorEventLoop):
    """An event loop that counts the hand-offs other threads make to it."""

    handoffs = 0

    def call_soon_threadsafe(  # type: ignore[override]  # the generic signature, counted, passed on
            self, callback: Any, *args: Any, context: Any = None) -> asyncio.Handle:
        self.handoffs += 1
        return super().call_soon_threadsafe(callback, *args, context=context)


def test_a_ring_wakes_every_loop_waiting_on_one_event_loop_with_one_hand_off_and_a_second_ring_with_none():
    async def main() -> _CountingLoop:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, _CountingLoop)
        signal, stop = CommitSignal(), asyncio.Event()
        wakeups = [signal.wakeup() for _ in range(3)]  # the relay's and two followers', as in a service
        waiting = [asyncio.ensure_future(w.wait(stop, AN_HOUR)) for w in wakeups]
        await asyncio.sleep(0)  # they wait now
        # Two commits in another thread, one after the other, while this loop is busy (joined here,
        # it runs nothing meanwhile): the second comes before the loops' round.
        def two_commits() -> None:
            signal.ring()
            signal.ring()

        rings = threading.Thread(target=two_commits)
        rings.start()
        rings.join()
        await asyncio.wait_for(asyncio.gather(*waiting), timeout=30)
        return loop

    with asyncio.Runner(loop_factory=_CountingLoop) as runner:
        assert runner.run(main()).handoffs == 1  # without grouping: 3 for the first ring, 3 for the second
