"""ひきこもりサポーター per registrar (実施主体: the prefecture, designated city or municipality that
trains and registers them) and fiscal year: 新規登録, 再登録, 辞退, 取消し, 期間満了, 登録名簿の
提供, and the supporters registered at the end of the year (31 March)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ColumnElement, Connection, Engine, FromClause, Select, distinct, func, literal, select

from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections import supporter_endings, supporter_terms
from services.reporting.projections.registered import CANCELLING, fiscal_year_end
from services.reporting.projections.registered import table as registered_counts
from services.reporting.projections.tallies import roster_counts, supporter_ending_pivot, supporter_term_pivot
from services.reporting.queries.common import cells, each_unit, of_years, unpivoted, wide_columns
from services.reporting.queries.scope import as_of_utc, of_visible_cells, of_visible_tenants, until

METRICS = ("newly_registered", "renewed", "withdrawn", "revoked", "expired", "registered_at_fy_end",
           "rosters_provided", "roster_entries")


def registered_cells(actor: Principal, as_of: datetime | None, fy: int,
                     prefecture: str | None = None) -> FromClause:
    """年度末登録者数 per registrar as cells (fy, tenant, n): the count kept per fiscal-year end for
    the present, counted from the terms and endings recorded by `as_of` for a report as it stood then."""
    if as_of is None:
        return registered_counts
    return registered_on(actor, as_of, fiscal_year_end(fy), prefecture).add_columns(literal(fy).label("fy")).subquery()


def registered_on(actor: Principal, as_of: datetime | None, day: date, prefecture: str | None = None) -> Select:
    """Supporters registered on `day` (tenant, n), per registrar, from the facts: a term with
    term_starts_on ≤ day ≤ term_ends_on, not withdrawn or revoked on or before `day` (and after that
    term started); the rule of projections/registered.ends_registered."""
    t, e = supporter_terms, supporter_endings
    cancelled = (
        select(e.c.event_id)
        .where(e.c.supporter_id == t.c.supporter_id, e.c.reason.in_(CANCELLING),
               e.c.ended_on >= t.c.term_starts_on, e.c.ended_on <= day, until(e.c.time, as_of))
        .exists()
    )
    return (
        select(t.c.tenant, func.count(distinct(t.c.supporter_id)).label("n"))
        .where(of_visible_tenants(t, actor, as_of, prefecture), t.c.term_starts_on <= day, t.c.term_ends_on >= day,
               ~cancelled)
        .group_by(t.c.tenant)
    )


def _metrics(conn: Connection, actor: Principal, fy: int, as_of: datetime | None,
             prefecture: str | None) -> dict[str, dict[str, int]]:
    """Every figure of every registrar of `fy`, from one statement: the registrars with a row in any
    of the four per-registrar sources (terms by kind, endings by reason, rosters, registered at the
    year's end), each source's row joined by its key, and the scope's clause once per registrar.
    Read one by one, each source paid the scope's demo lists once and its clause on every row of its
    own (bench/README.md, reports)."""
    def visible(source: FromClause) -> ColumnElement[bool]:
        return of_visible_cells(source, actor, prefecture)

    terms, ended, rosters, registered = sources = tuple(of_years(s, (fy,), name) for name, s in (
        ("terms", cells(supporter_term_pivot.wide, as_of, (fy,))),
        ("endings", cells(supporter_ending_pivot.wide, as_of, (fy,))),
        ("rosters", cells(roster_counts, as_of, (fy,))),
        ("registered", registered_cells(actor, as_of, fy, prefecture))))
    units, joined = each_unit(sources, [(s, None) for s in sources])
    wide = {"t": (supporter_term_pivot, terms), "e": (supporter_ending_pivot, ended)}
    columns = {name: wide_columns(pivot, source, name) for name, (pivot, source) in wide.items()}
    rows = conn.execute(select(units.c.tenant, *columns["t"], *columns["e"], rosters.c.n.label("rosters"),
                               rosters.c.entries.label("entries"), registered.c.n.label("registered"))
                        .select_from(joined).where(visible(units))).all()
    issued, ends = (unpivoted(conn, pivot, [(r.tenant, *(r._mapping[c.name] for c in columns[name])) for r in rows],
                              as_of, (fy,), visible, fy) for name, (pivot, _) in wide.items())

    def of(found: dict[tuple, int], code: str) -> dict[str, int]:
        return {tenant: n for (tenant, c), n in found.items() if c == code}

    def column(name: str) -> dict[str, int]:  # the registrars with a row in that source
        return {r.tenant: int(r._mapping[name]) for r in rows if r._mapping[name] is not None}

    return {
        "newly_registered": of(issued, "registered"),
        "renewed": of(issued, "renewed"),
        "withdrawn": of(ends, "withdrawn"),
        "revoked": of(ends, "revoked"),
        "expired": of(ends, "expired"),
        "registered_at_fy_end": column("registered"),
        "rosters_provided": column("rosters"),
        "roster_entries": column("entries"),
    }


def supporters_report(engine: Engine, actor: Principal, fy: int, *, as_of: datetime | None = None,
                      prefecture: str | None = None) -> dict:
    """ひきこもりサポーターの登録状況 of one fiscal year, per registrar and in total."""
    as_of = as_of_utc(as_of)
    with engine.connect() as conn:
        metrics = _metrics(conn, actor, fy, as_of, prefecture)
    tenants = sorted(set().union(*metrics.values()))
    return {
        "fy": fy,
        "label": wareki_label(fy),
        "fy_end": fiscal_year_end(fy).isoformat(),
        "registrars": [{"tenant": tenant, **{k: metrics[k].get(tenant, 0) for k in METRICS}} for tenant in tenants],
        "total": {k: sum(metrics[k].values()) for k in METRICS},
    }
