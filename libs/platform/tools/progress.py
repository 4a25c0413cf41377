"""Progress of long CLI work (`tsunagu audit verify`, `replay`, `disclose`, `rebuild`): count, rate
and ETA on a terminal, nothing in a pipe or a file (issue 18).

One helper over tqdm: the bar goes to stderr, and only when stderr is a terminal, so what a
command prints on stdout (its result) stays the same and a script or CI log sees no control
characters. The library functions that do the work take a plain callback `progress(done, total)`
(total None when unknown), which `Progress` is; they never import this module.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import IO, TypeVar

from tqdm import tqdm

T = TypeVar("T")


class Progress:
    """A progress bar on stderr when it is a terminal; otherwise it does nothing."""

    def __init__(self, description: str, *, unit: str = "events", total: int | None = None,
                 file: IO[str] | None = None) -> None:
        stream = file or sys.stderr
        self.bar = tqdm(desc=description, unit=unit, total=total, file=stream,
                        disable=not _is_terminal(stream), mininterval=0.2, dynamic_ncols=True, leave=True)

    @property
    def shown(self) -> bool:
        return not self.bar.disable

    def __call__(self, done: int, total: int | None = None) -> None:
        """`done` of `total` so far (both absolute)."""
        if total is not None and total != self.bar.total:
            self.bar.total = max(total, done)
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def each(items: Iterable[T], description: str, *, unit: str) -> Iterator[T]:
    """The items, one by one, counted on the terminal."""
    things = list(items)
    with Progress(description, unit=unit, total=len(things)) as progress:
        for item in things:
            yield item
            progress.advance()


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a real file
        return False
