"""率 by the largest-remainder method, checked against the seed's tables (seeds/001)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from services.reporting.queries.rates import rates, shares_in_tenths

# The seed's summary table 平成24～28年度: counts of the 9 columns and the published 率 row.
SEED_SUMMARY = {
    2012: ([656, 488, 361, 339, 278, 101, 74, 82, 981], [19.5, 14.5, 10.7, 10.1, 8.3, 3.0, 2.2, 2.4, 29.2]),
    2013: ([915, 722, 442, 397, 418, 96, 46, 85, 1783], [18.7, 14.7, 9.0, 8.1, 8.5, 2.0, 0.9, 1.7, 36.4]),
    2014: ([1193, 992, 710, 848, 544, 123, 50, 104, 2706], [16.4, 13.6, 9.8, 11.7, 7.5, 1.7, 0.7, 1.4, 37.2]),
    2015: ([1314, 815, 813, 1015, 568, 121, 94, 142, 2539], [17.7, 11.0, 11.0, 13.7, 7.7, 1.6, 1.3, 1.9, 34.2]),
    2016: ([1323, 823, 723, 981, 674, 106, 50, 239, 2601], [17.6, 10.9, 9.6, 13.0, 9.0, 1.4, 0.7, 3.2, 34.6]),
}
# 平成28年度 詳細版: the 21 columns and the published 率 row.
SEED_DETAILED_2016 = (
    [239, 313, 92, 97, 31, 50, 42, 823, 1323, 89, 723, 92, 674, 106, 31, 363, 981, 482, 86, 186, 697],
    [3.2, 4.2, 1.2, 1.3, 0.4, 0.7, 0.6, 10.9, 17.6, 1.2, 9.6, 1.2, 9.0, 1.4, 0.4, 4.8, 13.0, 6.4, 1.1, 2.5, 9.3],
)


def tenths(values: list[float] | list[float | None]) -> int:
    known = [v for v in values if v is not None]
    assert len(known) == len(values), f"a rate is missing in {values}"
    return sum(round(v * 10) for v in known)


def test_the_seeds_fy2016_detailed_row_gets_exactly_the_published_rates_which_add_up_to_100():
    counts, published = SEED_DETAILED_2016
    assert sum(counts) == 7520
    assert rates(counts) == published
    shares = shares_in_tenths(counts)
    assert shares is not None and shares[8] == 176  # 精神保健福祉センター: 1,323 of 7,520 → 17.6
    assert tenths(published) == 1000


@pytest.mark.parametrize("fy", [2013, 2014, 2016])
def test_summary_rows_whose_published_rates_add_up_to_100_are_reproduced_exactly(fy):
    counts, published = SEED_SUMMARY[fy]
    assert tenths(published) == 1000
    assert rates(counts) == published


@pytest.mark.parametrize(("fy", "column", "ours", "published_sum"), [
    (2012, 2, 10.8, 999),  # 医療機関 361/3,360 = 10.744…: the published row adds up to 99.9
    (2015, 4, 7.6, 1001),  # 地域若者サポートステーション 568/7,421 = 7.654…: it adds up to 100.1
])
def test_where_the_published_row_misses_100_we_differ_by_one_tenth_in_one_column(fy, column, ours, published_sum):
    counts, published = SEED_SUMMARY[fy]
    assert tenths(published) == published_sum
    ours_row = rates(counts)
    assert tenths(ours_row) == 1000
    assert [i for i, (a, b) in enumerate(zip(ours_row, published, strict=True)) if a != b] == [column]
    assert ours_row[column] == ours


def test_every_row_adds_up_to_exactly_1000_tenths_and_each_rate_is_within_a_tenth_of_the_exact_share():
    rng = random.Random(2016)
    for _ in range(500):
        counts = [rng.choice([0, 1, 2, 3, 7, 50, 333, 1000]) for _ in range(rng.randint(1, 21))]
        shares = shares_in_tenths(counts)
        if sum(counts) == 0:
            assert shares is None
            continue
        assert shares is not None
        assert sum(shares) == 1000
        for c, s in zip(counts, shares, strict=True):
            assert abs(Fraction(s) - Fraction(c * 1000, sum(counts))) < 1


def test_ties_go_to_the_larger_count_then_to_the_earlier_column():
    assert rates([1, 1, 1]) == [33.4, 33.3, 33.3]
    assert rates([1, 2]) == [33.3, 66.7]


def test_a_row_with_no_referrals_has_no_rates_and_a_negative_count_is_refused():
    assert rates([0, 0, 0]) == [None, None, None]
    with pytest.raises(ValueError):
        rates([1, -1])
