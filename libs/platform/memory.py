"""Giving freed heap memory back to the system (issue 15: RSS after 100,000 commands within 1.2× of
after 1,000).

A service's live memory is flat once its caches are full, yet its RSS grew with every command:
glibc's malloc keeps pages freed by Python (large blocks, arenas of several threads: the thread pool
of FastAPI, `asyncio.to_thread` of every background loop) and gives them back only when the top of
a heap is free. `malloc_trim(0)` walks every arena and returns all free pages (madvise), so RSS
follows live memory again. It runs as a platform job in every process (never under a lease: each
replica has its own heap), shown in /readyz and /metrics like every loop.

`MALLOC_ARENA_MAX` (set by the launcher and deploy/ before the interpreter starts: glibc reads it
once) bounds how many arenas there are to keep free pages in; the trim is what returns them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import threading
from collections.abc import Iterator
from typing import Any

JOB = "malloc-trim"
# glibc reads this at start: set in the environment of every service process (launcher, deploy/).
ARENA_ENV = {"MALLOC_ARENA_MAX": "2"}


@functools.cache
def _glibc() -> Any | None:
    """The C library's malloc_trim, or None where there is none (musl, macOS): then the job is a no-op."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def trim_heap() -> bool:
    """Return the heap's free pages to the system; True when glibc released any."""
    trim = _glibc()
    return bool(trim(0)) if trim is not None else False


def trim_job(runtime: Any) -> None:
    """The platform job: one trim (in a worker thread, so the event loop goes on meanwhile)."""
    trim_heap()


@contextlib.contextmanager
def startup_heap_frozen() -> Iterator[None]:
    """While a service runs, what it built at start (modules, the app and its routes, SQLAlchemy's
    tables and compiled statements, ~170,000 objects) is left out of the garbage collector's full
    collections: it lives as long as the process, and a full collection traversing it held the GIL
    for 135-176 ms (measured at load 3.5 on a 2-core machine), stalling every request and loop at once. Only
    what is allocated later (caches, requests) is traversed. Unfrozen when the service stops, so a
    process that starts and stops services (the tests) can still collect what they left."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


_paused = 0  # bulk operations running with the collector paused (`collector_paused`)
_paused_lock = threading.Lock()
_we_disabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic garbage collection while a bounded bulk operation runs (a 500-consultation
    import, issue 15). Everything it allocates lives until it ends (its events, entries, rows), so
    each young-generation collection meanwhile traversed the whole growing batch again and freed
    none of it: ~5 ms of a 48 ms import (CPU, SQLite). Other threads' cyclic garbage waits until
    such an operation ends (reference counting still frees the rest at once): the last enables the
    collector again (unless it was disabled before the first began), any other collects the young
    generation once, so a chain of overlapping operations does not keep it for ever."""
    global _paused, _we_disabled
    with _paused_lock:
        if _paused == 0:
            _we_disabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            others = _paused > 0 and _we_disabled
            if _paused == 0 and _we_disabled:
                gc.enable()
        if others:
            # Overlapping operations (a portal's parallel imports) may never all end at once: what
            # this one and other threads dropped meanwhile is collected now, the young generation
            # and the older ones when their thresholds say the collector would have (it counts
            # these collections as its own).
            (_, young, old), (_, every_young, every_old) = gc.get_count(), gc.get_threshold()
            gc.collect(2 if young >= every_young and old >= every_old else 1 if young >= every_young else 0)
