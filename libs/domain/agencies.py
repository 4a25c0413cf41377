"""Agency categories (関係機関の種別) of the ministry's referral tables, as versioned data.

Source: seeds/001 「ひきこもり地域支援センターが関係機関へつないだ件数」: the 9-column summary
(平成24～28年度) and the detailed 21-category table (平成28年度 詳細版).

The label problem: the detailed table's header names ハローワーク twice (12th and 14th of 21
columns). The summary's ハローワーク for 28年度 is 106, which is the 14th column; the 12th column
(92, 1.2%) is not in any named summary column, so it rolls into その他 (2,601 = the sum of the
13 columns without a summary column of their own, the 12th included). We keep the 12th column as
its own category, `employment_other` 「その他の就労支援機関（原表で「ハローワーク」と重複表記された列）」,
and never call it ハローワーク. A later version of this list can rename it once the ministry says
what it was; old events keep the code they were recorded with.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION = "2016-detailed-v1"


@dataclass(frozen=True)
class Category:
    code: str
    label: str  # the ministry's Japanese label, as in the detailed table
    summary: str  # the code of the 9-column summary column it rolls into


# The 9 columns of the summary table, in the seed's order (総計 is computed, not a column).
SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("mental_health_welfare_centre", "精神保健福祉センター"),
    ("public_health_centre", "保健所・保健センター"),
    ("medical_institution", "医療機関"),
    ("npo", "NPO法人等"),
    ("youth_support_station", "地域若者サポートステーション"),
    ("hello_work", "ハローワーク"),
    ("child_guidance_centre", "児童相談所"),
    ("welfare_office", "福祉事務所"),
    ("other", "その他"),
)

# The 21 categories of the detailed table, in the seed's column order.
CATEGORIES: tuple[Category, ...] = (
    Category("welfare_office", "福祉事務所", "welfare_office"),
    Category("municipal_window", "福祉事務所以外の市区町村窓口", "other"),
    Category("social_welfare_council", "社会福祉協議会", "other"),
    Category("self_reliance_support", "自立相談支援事業実施機関", "other"),
    Category("community_general_support_centre", "地域包括支援センター", "other"),
    Category("child_guidance_centre", "児童相談所", "child_guidance_centre"),
    Category("child_family_support_centre", "児童家庭支援センター", "other"),
    Category("public_health_centre", "保健所・保健センター", "public_health_centre"),
    Category("mental_health_welfare_centre", "精神保健福祉センター", "mental_health_welfare_centre"),
    Category("developmental_disability_centre", "発達障害者支援センター", "other"),
    Category("medical_institution", "医療機関", "medical_institution"),
    Category("employment_other", "その他の就労支援機関（原表で「ハローワーク」と重複表記された列）", "other"),
    Category("youth_support_station", "地域若者サポートステーション", "youth_support_station"),
    Category("hello_work", "ハローワーク", "hello_work"),
    Category("company", "企業", "other"),
    Category("school_education_board", "学校・教育委員会等", "other"),
    Category("private_support_group", "民間支援団体(当事者団体・NPO法人等)", "npo"),
    Category("disability_employment_facility", "障害者雇用促進関連施設", "other"),
    Category("disability_comprehensive_support_facility", "障害者総合支援関連施設", "other"),
    Category("other_hikikomori_centre", "他のひきこもり地域支援センター", "other"),
    Category("other", "その他", "other"),
)

BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}


def category(code: str) -> Category:
    try:
        return BY_CODE[code]
    except KeyError:
        raise KeyError(f"unknown agency category {code!r} (list {VERSION})") from None


def summary_column(code: str) -> str:
    """The 9-column summary column a detailed category rolls into."""
    return category(code).summary
