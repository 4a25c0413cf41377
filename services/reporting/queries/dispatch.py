"""ひきこもりサポーター派遣 per municipality and fiscal year, and the second 成果目標:
サポーターの活動件数が前年度を上回ること (活動報告書 資料8, by activity date). Activities count by
kind: for a person (派遣) and, deployed, at a place, for a programme or at an agency."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, FromClause, Row, select

from libs.domain import dispatch
from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections.tallies import activity_pivot, deployment_activity_pivot, dispatch_event_counts
from services.reporting.queries.common import cells, each_unit, of_years, unpivoted, wide_columns
from services.reporting.queries.scope import as_of_utc, of_visible_cells

PIVOTS = {"a": activity_pivot, "d": deployment_activity_pivot}  # activities for a person; deployed, by kind


def _rows(conn: Connection, actor: Principal, fy: int, as_of: datetime | None,
          prefecture: str | None) -> Sequence[Row]:
    """Every figure of every municipality of `fy` from one statement: the municipalities with a row
    in either pivot (this year or the last) or a dispatch started or ended this year (a UNION), each
    pivot's row of each year and the year's event cells joined by municipality, the scope's clause
    once per municipality. One row per municipality and event cell (kind, reason) of it, the
    pivots' columns repeated. Read one by one (six statements), each source paid the scope's demo
    lists once and its clause on every row of its own (bench/README.md, reports)."""
    events = of_years(cells(dispatch_event_counts, as_of, (fy,)), (fy,), "event_cells")
    counted = events.c.kind.in_(("started", "ended"))
    if as_of is None:  # each year's rows found by their key: on PostgreSQL an index descent per year
        now, before = ({name: of_years(p.wide.table, (year,), f"{name}_{when}") for name, p in PIVOTS.items()}
                       for when, year in (("now", fy), ("before", fy - 1)))
        sources: list[FromClause] = [*now.values(), *before.values()]
        joins: list[tuple[FromClause, ColumnElement[bool] | None]] = [(c, None) for c in sources]
    else:  # the facts of both years counted once
        years = (fy - 1, fy)
        both = {name: of_years(cells(p.wide, as_of, years), years, f"{name}_cells") for name, p in PIVOTS.items()}
        now, before = ({name: c.alias(f"{name}_{when}") for name, c in both.items()} for when in ("now", "before"))
        sources = list(both.values())
        joins = [*((c, c.c.fy == fy) for c in now.values()), *((c, c.c.fy == fy - 1) for c in before.values())]
    units, joined = each_unit([*sources, select(events).where(counted).subquery()], [*joins, (events, counted)])
    return conn.execute(
        select(units.c.tenant, *(c for name, p in PIVOTS.items() for c in wide_columns(p, now[name], name)),
               *(c.c.n.label(f"{name}_before") for name, c in before.items()),
               events.c.kind, events.c.reason, events.c.n)
        .select_from(joined).where(of_visible_cells(units, actor, prefecture))).all()


def _facts(conn: Connection, actor: Principal, fy: int, as_of: datetime | None, prefecture: str | None) -> dict:
    """The year's counts by municipality (activities and deployments by kind: one row per municipality
    from their pivots, tallies/Pivot; dispatches started, and ended by reason) and the previous
    year's totals (the pivots' `n`)."""
    rows = _rows(conn, actor, fy, as_of, prefecture)
    first = {r.tenant: r for r in reversed(rows)}  # the pivots' columns, once per municipality

    def visible(source: FromClause) -> ColumnElement[bool]:
        return of_visible_cells(source, actor, prefecture)

    def of(name: str) -> dict[tuple[str, str], int]:
        labels = [c.name for c in wide_columns(PIVOTS[name], PIVOTS[name].wide.table, name)]
        return unpivoted(conn, PIVOTS[name], [(t, *(r._mapping[c] for c in labels)) for t, r in first.items()],
                         as_of, (fy - 1, fy), visible, fy)

    started: dict[str, int] = {}
    ended: dict[tuple, int] = {}
    for r in rows:
        if r.kind == "started":
            started[r.tenant] = started.get(r.tenant, 0) + int(r.n)
        elif r.kind == "ended":
            ended[(r.tenant, r.reason)] = ended.get((r.tenant, r.reason), 0) + int(r.n)
    before = {t: [int(n) for n in (r._mapping[f"{name}_before"] for name in PIVOTS) if n is not None]
              for t, r in first.items()}
    return {
        "started": started,
        "ended": ended,
        "activities": of("a"),
        "deployed": of("d"),
        "previous": {t: sum(ns) for t, ns in before.items() if ns},  # a municipality with a row of last year
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
