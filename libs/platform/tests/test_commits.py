"""The commit signal that wakes the loops following a service's log (store/commits.py)."""

from __future__ import annotations

import asyncio
import threading

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
