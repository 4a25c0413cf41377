"""ひきこもり地域支援センターが関係機関へつないだ件数: the 9-column summary and the 21-category
detailed table (平成28年度 詳細版), each count with its 率 (see queries/rates.py)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import Engine

from libs.domain import agencies
from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections.tallies import referral_counts as referral_counts_tally
from services.reporting.projections.tallies import referral_rollup
from services.reporting.queries.common import cells, count_by, rolled_up
from services.reporting.queries.rates import rates
from services.reporting.queries.scope import as_of_utc, hidden_centres, nationwide, of_visible_centres

ROUNDING = "largest-remainder, one decimal place; a row's rates add up to 100.0"
# A category code outside the list (recorded under a newer list version) is shown in
# `unknown_categories` and counted in その他 of both tables, so the totals stay whole.
FALLBACK = "other"


def referral_counts(engine: Engine, actor: Principal, fy: int, as_of: datetime | None,
                    prefecture: str | None = None) -> Counter[str]:
    """Referrals (ReferralMade, by referred_on) of one fiscal year by agency category code."""
    with engine.connect() as conn:
        if nationwide(actor, as_of, prefecture):
            units = referral_rollup.units.table
            made = rolled_up(referral_rollup, fy, hidden_centres(units.c.centre_id, actor))
            found = count_by(conn, made, made.c.agency_category)
        else:
            made = cells(referral_counts_tally, as_of, (fy,))
            found = count_by(conn, made, made.c.agency_category,
                             of_visible_centres(made, actor, as_of, prefecture), made.c.fy == fy)
    return Counter({code: n for code, n in found.items() if n})


def _table(columns: list[tuple[str, str, int]]) -> dict:
    counts = [n for _, _, n in columns]
    shares = rates(counts)
    return {
        "columns": [{"code": code, "label": label, "count": n, "rate": rate}
                    for (code, label, n), rate in zip(columns, shares, strict=True)],
        "total": sum(counts),
    }


def split_known(counts: Counter[str]) -> tuple[Counter[str], dict[str, int]]:
    """Counts by known category (unknown codes folded into その他) and the unknown codes."""
    known: Counter[str] = Counter()
    unknown: dict[str, int] = {}
    for code, n in counts.items():
        if code in agencies.BY_CODE:
            known[code] += n
        else:
            unknown[code] = n
            known[FALLBACK] += n
    return known, unknown


def roll_up(detailed: Counter[str]) -> Counter[str]:
    """The 21 detailed categories summed into the 9 summary columns (libs/domain/agencies)."""
    summary: Counter[str] = Counter()
    for code, n in detailed.items():
        summary[agencies.summary_column(code)] += n
    return summary


def referral_tables(counts: Counter[str]) -> dict:
    """Both tables from counts by category code."""
    detailed, unknown = split_known(counts)
    summary = roll_up(detailed)
    return {
        "category_version": agencies.VERSION,
        "rounding": ROUNDING,
        "summary": _table([(code, label, summary[code]) for code, label in agencies.SUMMARY_COLUMNS]),
        "detailed": _table([(c.code, c.label, detailed[c.code]) for c in agencies.CATEGORIES]),
        "unknown_categories": unknown,
    }


def referral_report(engine: Engine, actor: Principal, fy: int, *, as_of: datetime | None = None,
                    prefecture: str | None = None) -> dict:
    """関係機関につないだ件数 of one fiscal year: summary (9 columns) and detailed (21 categories)."""
    as_of = as_of_utc(as_of)
    counts = referral_counts(engine, actor, fy, as_of, prefecture)
    return {"fy": fy, "label": wareki_label(fy), **referral_tables(counts)}
