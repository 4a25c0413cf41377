"""A report in the ministry's table shape: a title, a header row and rows of cells."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Percent:
    """A 率 cell: 17.6 means 17.6% (None: no rate, the total was 0)."""

    value: float | None


Cell = str | int | float | Percent | None


@dataclass(frozen=True)
class Sheet:
    title: str  # the ministry's Japanese table title; also the XLSX sheet name (≤ 31 characters)
    name: str  # ASCII name of the table, for file names
    header: list[str]
    rows: list[list[Cell]]
