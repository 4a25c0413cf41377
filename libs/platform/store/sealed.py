"""Commands that seal with subject keys from the replica's cache, checked by their save (issue 15).

Sealing a value used to look at the erasure log first (a round trip per seal: 28% of a command's
time on PostgreSQL). Inside `SealedCommand.run`, a seal takes the subject's key from the replica's
cache with no look (Sealer.cached_keys), and every save of the command carries the keys it sealed
with (store/creations.SEALED_KWARG): the save's transaction refuses it (SubjectForgotten) when one
of those subjects was forgotten since the cache's position, in any replica. Refused so before
anything was stored, the whole command runs once more with keys looked up (Sealer.keys), which
drops the forgotten key and refuses the subject as a command that looked first always did (410).

The command is run whole (its load and access check included), because a refused save leaves the
aggregate it was given changed in memory and evicted from the aggregate cache.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from libs.platform.privacy.sealed_values import SubjectForgotten, SubjectKeys
from libs.platform.privacy.sealing import Sealer

R = TypeVar("R")


class SealedWithoutSave(RuntimeError):
    """A command sealed with a cached key and stored no save after it: nothing checked that key
    (a programming error: such a value must be stored by a save, or sealed outside the command)."""


class Scope:
    """The keys one run of a command sealed with, and whether a save carried them."""

    def __init__(self, sealer: Sealer, looked: bool) -> None:
        self.sealer = sealer
        self.looked = looked  # keys looked up (Sealer.keys), not taken from the cache
        self.keys: dict[str, bytes | None] = {}
        self.valid_to: int | None = None  # the earliest position of the keys held
        self.unsaved = False  # a seal since the last save
        self.saved = False  # a save of this run committed

    def seal(self, subject: str, value: Any) -> dict[str, str]:
        if subject not in self.keys:
            taken = self.sealer.keys([subject]) if self.looked else self.sealer.cached_keys([subject])
            self.keys.update(taken.keys)
            # The earliest position: forgetting is for good, so looking from earlier refuses no
            # subject that is live, and misses none forgotten after any key's position.
            self.valid_to = taken.valid_to if self.valid_to is None else min(self.valid_to, taken.valid_to)
        self.unsaved = True
        return SubjectKeys({subject: self.keys[subject]}, 0).seal(subject, value)

    def subject_keys(self) -> SubjectKeys | None:
        """What a save of this run carries to check (None: nothing sealed yet)."""
        self.unsaved = False
        if self.valid_to is None:
            return None
        return SubjectKeys(dict(self.keys), self.valid_to)


class SealedCommand:
    """The scope of the command running in this thread, per application."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer
        self._local = threading.local()

    @property
    def scope(self) -> Scope | None:
        return getattr(self._local, "scope", None)

    def run(self, command: Callable[[], R]) -> R:
        if self.scope is not None:  # a command called from one: part of it
            return command()
        for looked in (False, True):
            scope = self._local.scope = Scope(self.sealer, looked)
            try:
                result = command()
                if scope.unsaved:
                    raise SealedWithoutSave("a value was sealed with a cached key after the command's last save")
                return result
            except SubjectForgotten:
                # Forgotten since the cache's position: once more, looking first; unless a save of the
                # command committed (run again, it would repeat that save) or this run had looked.
                if looked or scope.saved:
                    if not looked:
                        self.sealer.keys(list(scope.keys))  # drops the forgotten keys from the cache
                    raise
            finally:
                self._local.scope = None
        raise AssertionError("unreachable")  # the looked run returns or raises


def sealing(method: Callable[..., R]) -> Callable[..., R]:
    """A use case whose seals take keys from the cache, checked by its saves (SealedCommand)."""
    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> R:
        return self.sealed.run(lambda: method(self, *args, **kwargs))

    return run
