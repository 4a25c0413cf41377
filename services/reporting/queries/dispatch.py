"""ひきこもりサポーター派遣 per municipality and fiscal year, and the second 成果目標:
サポーターの活動件数が前年度を上回ること (活動報告書 資料8, by activity date). Activities count by
kind: for a person (派遣) and, deployed, at a place, for a programme or at an agency."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, FromClause, Row, select

from libs.domain import dispatch
from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections.tallies import activity_pivot, deployment_activity_pivot, dispatch_event_pivot
from services.reporting.queries.common import (
    cells,
    each_unit,
    fine_cells,
    grouped,
    of_years,
    unpivoted,
    wide_columns,
)
from services.reporting.queries.scope import as_of_utc, of_visible_cells

PIVOTS = {"a": activity_pivot, "d": deployment_activity_pivot}  # activities for a person; deployed, by kind
EVENTS = dispatch_event_pivot  # started, and ended by reason: a row per municipality
EVENT_COLUMNS = (*EVENTS.columns("kind"), *EVENTS.columns("reason"))


def _rows(conn: Connection, actor: Principal, fy: int, as_of: datetime | None,
          prefecture: str | None) -> Sequence[Row]:
    """Every figure of every municipality of `fy` from one statement: the municipalities with a row
    in either activity pivot (this year or the last) or in the dispatch events' pivot (this year;
    a UNION), each pivot's row of each year joined by municipality, the scope's clause once per
    municipality. One row per municipality: the events' cells were a row each (ended by reason, up
    to 7 a municipality), the cost growing with them as the years filled them (bench/README.md,
    reports). Read one by one (six statements), each source paid the scope's demo lists once and
    its clause on every row of its own."""
    if as_of is None:  # each year's rows found by their key: on PostgreSQL an index descent per year
        now, before = ({name: of_years(p.wide.table, (year,), f"{name}_{when}") for name, p in PIVOTS.items()}
                       for when, year in (("now", fy), ("before", fy - 1)))
        events = of_years(EVENTS.wide.table, (fy,), "e_now")
        sources: list[FromClause] = [*now.values(), *before.values(), events]
        joins: list[tuple[FromClause, ColumnElement[bool] | None]] = [(c, None) for c in sources]
    else:  # the facts of both years counted once
        years = (fy - 1, fy)
        both = {name: of_years(cells(p.wide, as_of, years), years, f"{name}_cells") for name, p in PIVOTS.items()}
        now, before = ({name: c.alias(f"{name}_{when}") for name, c in both.items()} for when in ("now", "before"))
        events = of_years(cells(EVENTS.wide, as_of, (fy,)), (fy,), "e_cells")
        sources = [*both.values(), events]
        joins = [*((c, c.c.fy == fy) for c in now.values()), *((c, c.c.fy == fy - 1) for c in before.values()),
                 (events, None)]
    units, joined = each_unit(sources, joins)
    return conn.execute(
        select(units.c.tenant, *(c for name, p in PIVOTS.items() for c in wide_columns(p, now[name], name)),
               *(c.c.n.label(f"{name}_before") for name, c in before.items()),
               *(events.c[c].label(f"e_{c}") for c in EVENT_COLUMNS))
        .select_from(joined).where(of_visible_cells(units, actor, prefecture))).all()


def _events(conn: Connection, rows: Sequence[Row], fy: int, as_of: datetime | None,
            visible: Callable[[FromClause], ColumnElement[bool]]) -> tuple[dict[str, int], dict[tuple, int]]:
    """Dispatches started by municipality and ended by municipality and reason, from the events'
    pivot row of each; a municipality ending more than its known reasons count (a reason no column
    names) has those reasons read from the events' cells."""
    started = {r.tenant: int(r.e_kind_started) for r in rows if r.e_kind_started}
    ended: dict[tuple, int] = {}
    others = []
    for r in rows:
        found = {(r.tenant, code): int(r._mapping[f"e_{EVENTS.column('reason', code)}"] or 0)
                 for code in dispatch.END_REASONS}
        ended |= {key: n for key, n in found.items() if n}
        if (r.e_kind_ended or 0) != sum(found.values()):
            others.append(r.tenant)
    if others:
        t = fine_cells(EVENTS, as_of, (fy,))
        ended |= grouped(conn, t, (t.c.tenant, t.c.reason), visible(t), t.c.fy == fy, t.c.tenant.in_(others),
                         t.c.kind == "ended", t.c.reason.not_in(dispatch.END_REASONS))
    return started, ended


def _facts(conn: Connection, actor: Principal, fy: int, as_of: datetime | None, prefecture: str | None) -> dict:
    """The year's counts by municipality (activities and deployments by kind, dispatches started
    and ended by reason: one row per municipality from their pivots, tallies/Pivot) and the
    previous year's totals (the activity pivots' `n`)."""
    rows = _rows(conn, actor, fy, as_of, prefecture)

    def visible(source: FromClause) -> ColumnElement[bool]:
        return of_visible_cells(source, actor, prefecture)

    def of(name: str) -> dict[tuple[str, str], int]:
        labels = [c.name for c in wide_columns(PIVOTS[name], PIVOTS[name].wide.table, name)]
        return unpivoted(conn, PIVOTS[name], [(r.tenant, *(r._mapping[c] for c in labels)) for r in rows],
                         as_of, (fy - 1, fy), visible, fy)

    started, ended = _events(conn, rows, fy, as_of, visible)
    before = {r.tenant: [int(n) for n in (r._mapping[f"{name}_before"] for name in PIVOTS) if n is not None]
              for r in rows}
    return {
        "started": started,
        "ended": ended,
        "activities": of("a"),
        "deployed": of("d"),
        "previous": {t: sum(ns) for t, ns in before.items() if ns},  # a municipality with a row of last year
    }


def _by_tenant(found: dict[tuple, int]) -> dict[str | None, list[tuple[str, int]]]:
    """(tenant, code) counts as each tenant's codes and counts (None: every tenant's), in the order
    of the sorted keys; sorted once, where sorting them again for each tenant's row made the report's
    Python quadratic in the cells (bench/README.md, reports)."""
    out: dict[str | None, list[tuple[str, int]]] = {None: []}
    for (t, code), n in sorted(found.items()):
        out.setdefault(t, []).append((code, n))
        out[None].append((code, n))
    return out


def _codes(found: dict[str | None, list[tuple[str, int]]], tenant: str | None,
           known: tuple[str, ...]) -> dict[str, int]:
    """Counts by code of one tenant (None: all tenants), every known code first."""
    out = dict.fromkeys(known, 0)
    for code, n in found.get(tenant, ()):
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
    facts |= {name: _by_tenant(facts[name]) for name in ("activities", "deployed", "ended")}
    return {
        "fy": fy,
        "label": wareki_label(fy),
        "previous_fy": fy - 1,
        "previous_label": wareki_label(fy - 1),
        "municipalities": [{"tenant": t, **_row(facts, t)} for t in tenants],
        "total": _row(facts, None),
    }
