"""memory.collector_paused: the garbage collector paused while bulk operations run, in any thread,
and left as it was found once the last ends."""

from __future__ import annotations

import gc
import threading

from libs.platform.memory import collector_paused


def test_the_collector_is_paused_until_the_last_of_overlapping_operations_ends() -> None:
    assert gc.isenabled()
    first_in, second_out = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with collector_paused():
            first_in.set()
            second_out.wait(10)
            seen.append(gc.isenabled())

    thread = threading.Thread(target=other)
    thread.start()
    try:
        first_in.wait(10)
        with collector_paused():
            seen.append(gc.isenabled())
        seen.append(gc.isenabled())  # the other thread's operation still runs
    finally:
        second_out.set()
        thread.join(10)
    assert seen == [False, False, False] and gc.isenabled()


def test_a_collector_disabled_before_stays_disabled_and_an_error_ends_the_pause() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    try:
        with collector_paused():
            raise ValueError("refused")
    except ValueError:
        pass
    assert gc.isenabled()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_cyclic_garbage_of_overlapping_operations_is_collected_while_others_still_run() -> None:
    """Attack (h-attack4): imports from several clients overlap one another without end (a portal's
    parallel workers), so no moment comes when none runs. What each made and dropped is collected
    when it ends, not kept until the last ends (never, under such a chain): without, the cycles of
    a chain of 20 overlapping operations are all alive after it."""
    import weakref

    assert gc.isenabled()
    entered, leave = [threading.Event() for _ in range(21)], [threading.Event() for _ in range(21)]
    dropped: list[weakref.ref[_Cycle]] = []
    alive_after: list[int] = []

    def operation(n: int) -> None:
        with collector_paused():
            entered[n].set()
            dropped.append(weakref.ref(_Cycle()))  # cyclic garbage: only the collector frees it
            leave[n].wait(10)

    threads = [threading.Thread(target=operation, args=(n,)) for n in range(21)]
    try:
        threads[0].start()
        entered[0].wait(10)
        for n in range(1, 21):  # the next begins before the one before ends: always one running
            threads[n].start()
            entered[n].wait(10)
            leave[n - 1].set()
            threads[n - 1].join(10)
            alive_after.append(sum(r() is not None for r in dropped[:n]))
    finally:
        for e in leave:
            e.set()
        for t in threads:
            t.join(10)
    assert alive_after == [0] * 20 and gc.isenabled()
