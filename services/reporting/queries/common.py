"""Small helpers shared by the report queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CTE, ColumnElement, Connection, FromClause, Label, Subquery, func, select, union, union_all

from services.reporting.projections.tallies import Pivot, Rollup, Tally


def cells(tally: Tally, as_of: datetime | None, fys: Iterable[int],
          counted: ColumnElement[bool] | None = None) -> FromClause:
    """The cells of a tally (fiscal years `fys` at least): its table for the present, or computed
    from its facts as they stood at `as_of` (envelope time ≤ it; `counted` then replaces the tally's
    own condition). Either way the same columns, so one query serves both."""
    if as_of is None:
        return tally.table
    facts = tally.facts
    return tally.cells(facts.c.time <= as_of, facts.c.fy.in_(list(fys)), counted=counted).subquery()


def count_by(conn: Connection, source: FromClause, key: ColumnElement, *where: ColumnElement[bool],
             known: Iterable[str] = ()) -> dict[str, int]:
    """Counts (the cells' `n`) by `key`: every known code first (0 when absent), then any other
    code found (a missing value, e.g. a consultation of a case not projected, counts as "unknown")."""
    query = (select(key.label("key"), func.sum(source.c.n).label("n")).select_from(source).where(*where)
             .group_by(key))
    found: dict[str, int] = {}
    for r in conn.execute(query):
        if not r.n:  # a code whose cells a roll-up's subtraction cancelled out: no cell of it is seen
            continue
        code = "unknown" if r.key is None else str(r.key)
        found[code] = found.get(code, 0) + int(r.n)
    counts = {code: found.pop(code, 0) for code in known}
    return counts | dict(sorted(found.items()))


def counts_by(conn: Connection, source: FromClause, keys: dict[str, tuple[ColumnElement, Iterable[str]]],
              *where: ColumnElement[bool]) -> dict[str, dict[str, int]]:
    """`count_by` of each of `keys` (name: column and its known codes), from one read of the cells:
    grouped by all of them at once (a handful of codes each), each one's counts summed here."""
    columns = [column.label(f"k{i}") for i, (column, _) in enumerate(keys.values())]
    query = (select(*columns, func.sum(source.c.n).label("n")).select_from(source).where(*where)
             .group_by(*columns))
    found: list[dict[str, int]] = [{} for _ in keys]
    for r in conn.execute(query):
        for i, codes in enumerate(found):
            code = "unknown" if r[i] is None else str(r[i])
            codes[code] = codes.get(code, 0) + int(r.n)
    out = {}
    for (name, (_, known)), codes in zip(keys.items(), found, strict=True):
        out[name] = {code: codes.pop(code, 0) for code in known} | dict(sorted(codes.items()))
    return out


def count(conn: Connection, source: FromClause, *where: ColumnElement[bool]) -> int:
    """The sum of the cells' `n`."""
    return int(conn.execute(select(func.coalesce(func.sum(source.c.n), 0)).select_from(source).where(*where))
               .scalar_one())


def grouped(conn: Connection, source: FromClause, keys: tuple[ColumnElement, ...], *where: ColumnElement[bool],
            value: ColumnElement | None = None) -> dict[tuple, int]:
    """`value` (default: the cells' `n`) summed by the tuple of `keys`."""
    value = func.sum(source.c.n if value is None else value)
    query = select(*keys, value.label("n")).select_from(source).where(*where).group_by(*keys)
    return {tuple(r)[:-1]: int(r.n) for r in conn.execute(query)}


def rolled_up(rollup: Rollup, fy: int, hidden: ColumnElement[bool]) -> FromClause:
    """The cells (`code`, `n`) of fiscal year `fy` by code over the units the caller may see: the
    roll-up's national cells, and the tally's cells of every unit that holds any and is `hidden`
    (a clause over `rollup.units.table`) counted negative. Summed by code this equals the tally's
    cells of the visible units summed by code (services/reporting/tests/test_rollups.py), at the
    cost of the form's columns and the units instead of their product."""
    national, units, fine = rollup.national.table, rollup.units.table, rollup.tally.table
    values = ("n", *(s.name for s in rollup.tally.sums))
    unseen = select(units.c[rollup.unit]).where(units.c.fy == fy, hidden)
    return union_all(
        select(national.c[rollup.code].label(rollup.code), *(national.c[v] for v in values))
        .where(national.c.fy == fy),
        select(fine.c[rollup.code].label(rollup.code), *((-fine.c[v]).label(v) for v in values))
        .where(fine.c.fy == fy, fine.c[rollup.unit].in_(unseen)),
    ).subquery()


def fine_cells(pivot: Pivot, as_of: datetime | None, fys: Iterable[int],
               counted: ColumnElement[bool] | None = None) -> FromClause:
    """The cells of the tally a pivot turns (every code, a code no column names included): its table
    when the projection keeps it, else counted from the facts (only for a code no column names)."""
    if pivot.fine_kept or as_of is not None:
        return cells(pivot.tally, as_of, fys, counted)
    return pivot.tally.cells(pivot.tally.facts.c.fy.in_(list(fys))).subquery()


def unpivoted(conn: Connection, pivot: Pivot, rows: Iterable[Sequence[Any]], as_of: datetime | None,
              fys: Iterable[int], visible: Callable[[FromClause], ColumnElement[bool]],
              fy: int) -> dict[tuple[str, str], int]:
    """The non-zero (unit, code) counts of a pivot's `rows` (unit, n, each known column of its one
    dimension; a row whose n is NULL, a unit an outer join found without one, is none). A unit
    counting more than its known columns (a code no column names) has those codes read from the
    tally's cells of that unit, so a new code is reported as before."""
    (dimension, codes), = pivot.codes.items()
    found: dict[tuple[str, str], int] = {}
    others = []
    for unit, n, *known in rows:
        if n is None:
            continue
        found |= {(unit, code): int(k) for code, k in zip(codes, known, strict=True) if k}
        if n != sum(known):
            others.append(unit)
    if others:
        t = fine_cells(pivot, as_of, fys)
        found |= grouped(conn, t, (t.c[pivot.unit], t.c[dimension]), visible(t), t.c.fy == fy,
                         t.c[pivot.unit].in_(others), t.c[dimension].not_in(codes))
    return found


def of_years(source: FromClause, years: Sequence[int], name: str) -> CTE:
    """A source's cells of `years`, as a CTE of a report's one statement, which reads each at least
    twice (the units' union, then its joins). Materialized where that reads them once: on PostgreSQL,
    and cells counted from the facts as of an instant (computed once; `cells` counted those of
    `years` already). A count table on SQLite is not: its rows are then found by their key (fy,
    unit) for each unit, where SQLite scanned a materialized one per unit (bench/README.md, reports)."""
    if isinstance(source, Subquery):
        return source.element.cte(name)
    fy = source.c.fy
    # Named: an anonymous CTE's name comes from its id(), which prefix_with's copy may share with another.
    return (select(source).where(fy == years[0] if len(years) == 1 else fy.in_(years)).cte(name)
            .prefix_with("NOT MATERIALIZED", dialect="sqlite"))


def each_unit(sources: Sequence[FromClause], joins: Sequence[tuple[FromClause, ColumnElement[bool] | None]],
              unit: str = "tenant") -> tuple[Subquery, FromClause]:
    """The units with a row in any of `sources` (a UNION), each of `joins` outer-joined to them by
    the unit (and its own condition): a report's per-unit sources in one statement, so that the
    scope's clause runs once per unit (on the union) and its demo lists once per statement, where
    one statement per source paid both for each (bench/README.md, reports)."""
    units = union(*(select(s.c[unit]) for s in sources)).subquery()
    joined: FromClause = units
    for source, on in joins:
        key = source.c[unit] == units.c[unit]
        joined = joined.outerjoin(source, key if on is None else key & on)
    return units, joined


def wide_columns(pivot: Pivot, source: FromClause, name: str) -> list[Label]:
    """A pivot's `n` and known columns of `source` (its cells), labelled apart (two pivots share
    column names): the row `unpivoted` reads, after the unit."""
    (dimension, _), = pivot.codes.items()
    return [source.c[c].label(f"{name}_{c}") for c in ("n", *pivot.columns(dimension))]
