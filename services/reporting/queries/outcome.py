"""成果目標: 専門機関での支援が決定した件数が目標値（前年度の1センターあたりの決定件数×設置数）を
上回ること.

- 決定件数: SupportDecided events whose decided_on falls in the fiscal year, in scope;
- 設置数: centres (main sites and satellites, not municipal windows) open during the fiscal year
  (from 開所日 to 廃止日; without dates, 開所年度 from the profile, else the year it was registered), in scope;
- 目標値 = 前年度の決定件数 ÷ 前年度の設置数 × 今年度の設置数, computed exactly (a fraction);
- met when 決定件数 > 目標値 (strictly: 上回ること); no verdict without a previous year's centre.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from sqlalchemy import Engine

from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections.tallies import support_decision_counts
from services.reporting.queries.centres import centre_count, sites
from services.reporting.queries.common import cells, count
from services.reporting.queries.scope import as_of_utc, of_visible_centres


def target(previous_decided: int, previous_centres: int, centres: int) -> Fraction | None:
    """目標値: 前年度の1センターあたりの決定件数 × 設置数 (None when there was no centre the year before)."""
    if previous_centres == 0:
        return None
    return Fraction(previous_decided, previous_centres) * centres


def verdict(decided: int, goal: Fraction | None) -> str:
    if goal is None:
        return "no_baseline"
    return "met" if decided > goal else "not_met"


def outcome_report(engine: Engine, actor: Principal, fy: int, *, as_of: datetime | None = None,
                   prefecture: str | None = None) -> dict:
    """専門機関での支援が決定した件数 against its target, with every input shown."""
    as_of = as_of_utc(as_of)
    decisions = cells(support_decision_counts, as_of, (fy - 1, fy))
    visible = of_visible_centres(decisions, actor, as_of, prefecture)
    with engine.connect() as conn:
        decided = count(conn, decisions, visible, decisions.c.fy == fy)
        previous_decided = count(conn, decisions, visible, decisions.c.fy == fy - 1)
        all_sites = sites(conn, actor, as_of, prefecture)
    centres, previous_centres = centre_count(all_sites, fy), centre_count(all_sites, fy - 1)
    goal = target(previous_decided, previous_centres, centres)
    result = verdict(decided, goal)
    return {
        "fy": fy,
        "label": wareki_label(fy),
        "decided": decided,
        "centres": centres,
        "previous": {
            "fy": fy - 1,
            "label": wareki_label(fy - 1),
            "decided": previous_decided,
            "centres": previous_centres,
            "per_centre": None if previous_centres == 0 else round(previous_decided / previous_centres, 2),
        },
        "target": None if goal is None else round(float(goal), 2),
        "target_exact": None if goal is None else f"{goal.numerator}/{goal.denominator}",
        "met": None if goal is None else result == "met",
        "verdict": result,
    }
