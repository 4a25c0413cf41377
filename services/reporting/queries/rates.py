"""率: shares of a row to one decimal place that add up to exactly 100.0.

Rounding each share half-up on its own (as the ministry's tables do) can miss 100.0: in the
seed's summary table 平成24年度 adds up to 99.9% and 平成27年度 to 100.1%. We use the
largest-remainder method (Hamilton's method) in tenths of a percent instead:

1. each share in tenths of a percent is count × 1000 / total, exactly (a Fraction);
2. every share gets its whole tenths (the floor);
3. the tenths still missing to reach 1000 go, one each, to the shares with the largest
   fractional remainders; ties go to the larger count, then to the earlier column.

Result: the tenths add up to 1000 (rates to 100.0) whenever total > 0, and every rate is within
0.1 of its exact value. On the seed's rows this gives the published rates exactly for 平成25,
26 and 28年度 and the 平成28年度 detailed 21-column row (whose half-up rates happen to add up
to 100.0 as well); it differs by 0.1 in one column where the published row misses 100.0:
平成24年度 医療機関 10.8 (published 10.7, exact 10.744…) and 平成27年度 地域若者サポートステーション
7.6 (published 7.7, exact 7.654…).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

WHOLE = 1000  # tenths of a percent in 100.0%


def shares_in_tenths(counts: Sequence[int]) -> list[int] | None:
    """Each count's share of the total in tenths of a percent (summing to 1000); None if total is 0."""
    if any(c < 0 for c in counts):
        raise ValueError("counts cannot be negative")
    total = sum(counts)
    if total == 0:
        return None
    exact = [Fraction(c * WHOLE, total) for c in counts]
    tenths = [int(x) for x in exact]
    missing = WHOLE - sum(tenths)
    order = sorted(range(len(counts)), key=lambda i: (-(exact[i] - tenths[i]), -counts[i], i))
    for i in order[:missing]:
        tenths[i] += 1
    return tenths


def rates(counts: Sequence[int]) -> list[float | None]:
    """率 of each count, one decimal place (17.6 means 17.6%); None for every column if total is 0."""
    tenths = shares_in_tenths(counts)
    if tenths is None:
        return [None] * len(counts)
    return [t / 10 for t in tenths]
