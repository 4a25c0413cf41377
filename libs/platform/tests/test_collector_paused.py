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
