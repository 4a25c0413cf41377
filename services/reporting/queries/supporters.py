"""ひきこもりサポーター per registrar (実施主体: the prefecture, designated city or municipality that
trains and registers them) and fiscal year: 新規登録, 再登録, 辞退, 取消し, 期間満了, 登録名簿の
提供, and the supporters registered at the end of the year (31 March)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ColumnElement, Connection, Engine, FromClause, distinct, func, select

from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections import supporter_endings, supporter_terms
from services.reporting.projections.registered import CANCELLING, fiscal_year_end
from services.reporting.projections.registered import table as registered_counts
from services.reporting.projections.tallies import roster_counts, supporter_ending_pivot, supporter_term_pivot
from services.reporting.queries.common import by_unit_and_code, cells, of_each
from services.reporting.queries.scope import as_of_utc, of_visible_cells, of_visible_tenants, until

METRICS = ("newly_registered", "renewed", "withdrawn", "revoked", "expired", "registered_at_fy_end",
           "rosters_provided", "roster_entries")


def registered_at_fy_end(conn: Connection, actor: Principal, as_of: datetime | None, fy: int,
                         prefecture: str | None = None) -> dict[str, int]:
    """年度末登録者数 per registrar: the count kept per fiscal-year end for the present, counted from
    the terms and endings recorded by `as_of` for a report as it stood then."""
    if as_of is None:
        r = registered_counts
        return of_each(conn, r, r.c.tenant, of_visible_cells(r, actor, prefecture), r.c.fy == fy)
    return registered_on(conn, actor, as_of, fiscal_year_end(fy), prefecture)


def registered_on(conn: Connection, actor: Principal, as_of: datetime | None, day: date,
                  prefecture: str | None = None) -> dict[str, int]:
    """Supporters registered on `day`, per registrar, from the facts: a term with term_starts_on ≤
    day ≤ term_ends_on, not withdrawn or revoked on or before `day` (and after that term started);
    the rule of projections/registered.ends_registered."""
    t, e = supporter_terms, supporter_endings
    cancelled = (
        select(e.c.event_id)
        .where(e.c.supporter_id == t.c.supporter_id, e.c.reason.in_(CANCELLING),
               e.c.ended_on >= t.c.term_starts_on, e.c.ended_on <= day, until(e.c.time, as_of))
        .exists()
    )
    query = (
        select(t.c.tenant, func.count(distinct(t.c.supporter_id)).label("n"))
        .where(of_visible_tenants(t, actor, as_of, prefecture), t.c.term_starts_on <= day, t.c.term_ends_on >= day,
               ~cancelled)
        .group_by(t.c.tenant)
    )
    return {r.tenant: r.n for r in conn.execute(query)}


def _metrics(conn: Connection, actor: Principal, fy: int, as_of: datetime | None,
             prefecture: str | None) -> dict[str, dict[str, int]]:
    def visible(source: FromClause) -> ColumnElement[bool]:
        return of_visible_cells(source, actor, prefecture)

    r = cells(roster_counts, as_of, (fy,))
    provided = visible(r)
    issued = by_unit_and_code(conn, supporter_term_pivot, as_of, (fy,), visible, fy)  # a row per registrar
    ended = by_unit_and_code(conn, supporter_ending_pivot, as_of, (fy,), visible, fy)
    rosters = conn.execute(select(r.c.tenant, r.c.n, r.c.entries).where(provided, r.c.fy == fy)).all()  # one a tenant

    def of(found: dict[tuple, int], code: str) -> dict[str, int]:
        return {tenant: n for (tenant, c), n in found.items() if c == code}

    return {
        "newly_registered": of(issued, "registered"),
        "renewed": of(issued, "renewed"),
        "withdrawn": of(ended, "withdrawn"),
        "revoked": of(ended, "revoked"),
        "expired": of(ended, "expired"),
        "registered_at_fy_end": registered_at_fy_end(conn, actor, as_of, fy, prefecture),
        "rosters_provided": {tenant: int(n) for tenant, n, _ in rosters},
        "roster_entries": {tenant: int(entries) for tenant, _, entries in rosters},
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
