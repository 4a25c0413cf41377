"""The agency categories reproduce the seed's FY2016 tables (001: 詳細版 and the summary)."""

from __future__ import annotations

from collections import Counter

from libs.domain import agencies

# 平成28年度 詳細版, in column order (the seed's row of counts).
FY2016_DETAILED = [239, 313, 92, 97, 31, 50, 42, 823, 1323, 89, 723, 92, 674, 106, 31, 363, 981, 482, 86, 186, 697]
# 平成28年度 summary: 精福, 保健所, 医療, NPO, サポステ, ハロワ, 児相, 福祉事務所, その他.
FY2016_SUMMARY = [1323, 823, 723, 981, 674, 106, 50, 239, 2601]


def test_there_are_21_categories_with_unique_codes_and_9_summary_columns():
    assert len(agencies.CATEGORIES) == 21
    assert len({c.code for c in agencies.CATEGORIES}) == 21
    assert len(agencies.SUMMARY_COLUMNS) == 9
    assert {c.summary for c in agencies.CATEGORIES} == {code for code, _ in agencies.SUMMARY_COLUMNS}


def test_the_detailed_fy2016_counts_roll_up_into_the_seeds_summary_table():
    rolled: Counter[str] = Counter()
    for cat, n in zip(agencies.CATEGORIES, FY2016_DETAILED, strict=True):
        rolled[cat.summary] += n
    assert [rolled[code] for code, _ in agencies.SUMMARY_COLUMNS] == FY2016_SUMMARY
    assert sum(FY2016_DETAILED) == 7520


def test_only_one_category_is_labelled_hello_work_and_the_duplicate_column_is_not():
    assert [c.code for c in agencies.CATEGORIES if c.label == "ハローワーク"] == ["hello_work"]
    duplicate = agencies.category("employment_other")
    assert duplicate.summary == "other" and "重複" in duplicate.label


def test_an_unknown_category_is_refused_with_the_list_version():
    try:
        agencies.category("zoo")
    except KeyError as e:
        assert agencies.VERSION in str(e)
    else:
        raise AssertionError("unknown category accepted")
