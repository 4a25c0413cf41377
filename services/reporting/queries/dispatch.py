"""ひきこもりサポーター派遣 per municipality and fiscal year, and the second 成果目標:
サポーターの活動件数が前年度を上回ること (活動報告書 資料8, by activity date). Activities count by
kind: for a person (派遣) and, deployed, at a place, for a programme or at an agency."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, FromClause

from libs.domain import dispatch
from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections.tallies import activity_pivot, deployment_activity_pivot, dispatch_event_counts
from services.reporting.queries.common import by_tenant, by_unit_and_code, cells, grouped, of_each
from services.reporting.queries.scope import as_of_utc, of_visible_cells


def _facts(conn: Connection, actor: Principal, fy: int, as_of: datetime | None, prefecture: str | None) -> dict:
    """The year's counts by municipality (activities and deployments by kind: one row per municipality
    from their pivots, tallies/Pivot) and the previous year's totals (the pivots' `n`)."""
    years = (fy - 1, fy)
    d = cells(dispatch_event_counts, as_of, years)
    events = of_visible_cells(d, actor, prefecture)

    def visible(source: FromClause) -> ColumnElement[bool]:
        return of_visible_cells(source, actor, prefecture)

    previous: dict[str, int] = {}
    for pivot in (activity_pivot, deployment_activity_pivot):
        w = cells(pivot.wide, as_of, years)
        for tenant, n in of_each(conn, w, w.c.tenant, visible(w), w.c.fy == fy - 1).items():
            previous[tenant] = previous.get(tenant, 0) + n
    return {
        "started": by_tenant(conn, d, d.c.tenant, events, d.c.kind == "started", d.c.fy == fy),
        "ended": grouped(conn, d, (d.c.tenant, d.c.reason), events, d.c.kind == "ended", d.c.fy == fy),
        "activities": by_unit_and_code(conn, activity_pivot, as_of, years, visible, fy),
        "deployed": by_unit_and_code(conn, deployment_activity_pivot, as_of, years, visible, fy),
        "previous": previous,
    }


def _codes(found: dict[tuple, int], tenant: str | None, known: tuple[str, ...]) -> dict[str, int]:
    """Counts by code of one tenant (None: all tenants), every known code first."""
    out = dict.fromkeys(known, 0)
    for (t, code), n in sorted(found.items()):
        if tenant is None or t == tenant:
            out[code] = out.get(code, 0) + n
    return out


def _row(facts: dict, tenant: str | None) -> dict:
    def one(counts: dict[str, int]) -> int:
        return sum(counts.values()) if tenant is None else counts.get(tenant, 0)

    by_type = _codes(facts["activities"], tenant, dispatch.ACTIVITY_TYPES)
    by_kind = {"person": sum(by_type.values()),
               **_codes(facts["deployed"], tenant, dispatch.DEPLOYMENT_TARGETS)}
    ended = _codes(facts["ended"], tenant, dispatch.END_REASONS)
    total, previous = sum(by_kind.values()), one(facts["previous"])
    return {
        "started": one(facts["started"]),
        "ended": sum(ended.values()),
        "ended_by_reason": ended,
        "activities": by_type,
        "activities_by_kind": by_kind,
        "activity_total": total,
        "previous_activity_total": previous,
        "met": total > previous,  # 前年度を上回ること: strictly more
    }


def dispatch_report(engine: Engine, actor: Principal, fy: int, *, as_of: datetime | None = None,
                    prefecture: str | None = None) -> dict:
    """派遣 started and ended and サポーターの活動件数 by activity type, per municipality and in total,
    each against the previous fiscal year."""
    as_of = as_of_utc(as_of)
    with engine.connect() as conn:
        facts = _facts(conn, actor, fy, as_of, prefecture)
    tenants = sorted(set(facts["started"]) | set(facts["previous"])
                     | {key[0] for key in facts["ended"]} | {key[0] for key in facts["activities"]}
                     | {key[0] for key in facts["deployed"]})
    return {
        "fy": fy,
        "label": wareki_label(fy),
        "previous_fy": fy - 1,
        "previous_label": wareki_label(fy - 1),
        "municipalities": [{"tenant": t, **_row(facts, t)} for t in tenants],
        "total": _row(facts, None),
    }
