"""延べ相談件数 (every consultation counts, repeat ones included) and 訪問支援, per fiscal year."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, FromClause, and_, func, select

from libs.domain import intake
from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections import centres, consultations
from services.reporting.projections.tallies import Pivot, consultation_counts, consultation_pivot, outreach_visit_pivot
from services.reporting.queries.common import cells, count_by, counts_by, fine_cells
from services.reporting.queries.scope import (
    as_of_utc,
    not_voided,
    of_visible_centres,
    until,
    visible_centres,
)

BREAKDOWNS = {"channel": intake.CHANNELS, "client_kind": intake.CLIENT_KINDS, "age_group": intake.AGE_GROUPS}


def _breakdowns(conn: Connection, pivot: Pivot, known: dict[str, tuple[str, ...]], as_of: datetime | None, fy: int,
                scope: Callable[[FromClause], ColumnElement[bool]],
                counted: ColumnElement[bool] | None = None) -> dict[str, dict[str, int]]:
    """Counts by each dimension of `known`: every known code first (0 when absent), then any other
    code found, from one row of sums over the centres' pivot rows of `fy` (`scope`: the centres the
    caller sees). A dimension whose columns do not add up to the total has its other codes counted
    from the fine cells; as of an instant, every count is (from the facts either way)."""
    if as_of is not None:  # counted from the facts: grouped by code, not summed over a CASE per code
        fine = fine_cells(pivot, as_of, (fy,), counted)
        keys: dict[str, tuple[ColumnElement, Iterable[str]]] = {d: (fine.c[d], domain) for d, domain in known.items()}
        return counts_by(conn, fine, keys, scope(fine), fine.c.fy == fy)
    held = pivot.wide.table
    columns = [c for d in pivot.codes for c in pivot.columns(d)]
    row = conn.execute(select(func.coalesce(func.sum(held.c.n), 0),
                              *(func.coalesce(func.sum(held.c[c]), 0) for c in columns))
                       .where(scope(held), held.c.fy == fy)).one()
    total, sums = int(row[0]), dict(zip(columns, (int(v) for v in row[1:]), strict=True))
    out = {}
    for dimension, domain in known.items():
        found = {code: sums[pivot.column(dimension, code)] for code in pivot.codes[dimension]}
        if sum(found.values()) != total:
            fine = fine_cells(pivot, as_of, (fy,), counted)
            found |= count_by(conn, fine, fine.c[dimension], scope(fine), fine.c.fy == fy,
                              fine.c[dimension].not_in(pivot.codes[dimension]))
        out[dimension] = ({code: found.pop(code) for code in domain}
                          | {code: n for code, n in sorted(found.items()) if n})
    return out


def consultation_report(engine: Engine, actor: Principal, fy: int, *, as_of: datetime | None = None,
                        prefecture: str | None = None) -> dict:
    """延べ相談件数 per centre and in total for one fiscal year, by channel (電話・来所・メール・
    訪問・その他), by who the case is about (本人・家族・関係機関) and by age group; 訪問支援
    (outreach visits) are counted separately."""
    as_of = as_of_utc(as_of)
    counted = not_voided(consultations.c.voided_at, as_of)
    # a row per centre (the pivot), or its cells from the facts as of an instant
    held = consultation_pivot.wide.table if as_of is None else cells(consultation_counts, as_of, (fy,), counted)
    per_centre = (
        select(centres.c.centre_id, centres.c.name, centres.c.kind, centres.c.site, centres.c.tenant,
               func.coalesce(func.sum(held.c.n), 0).label("consultations"))
        .select_from(centres.outerjoin(held, and_(held.c.centre_id == centres.c.centre_id, held.c.fy == fy)))
        .where(until(centres.c.registered_at, as_of))
        .group_by(centres.c.centre_id, centres.c.name, centres.c.kind, centres.c.site, centres.c.tenant)
        .order_by(centres.c.tenant, centres.c.name, centres.c.centre_id)
    )
    visible = visible_centres(actor, prefecture)
    if visible is not None:
        per_centre = per_centre.where(visible)

    def scope(source: FromClause) -> ColumnElement[bool]:
        return of_visible_centres(source, actor, as_of, prefecture)

    with engine.connect() as conn:
        rows = [{**r._mapping, "consultations": int(r.consultations)} for r in conn.execute(per_centre)]
        by = _breakdowns(conn, consultation_pivot, BREAKDOWNS, as_of, fy, scope, counted)
        by_channel, by_client_kind, by_age_group = by["channel"], by["client_kind"], by["age_group"]
        visits_by_role = _breakdowns(conn, outreach_visit_pivot, {"staff_role": intake.STAFF_ROLES}, as_of, fy,
                                     scope)["staff_role"]
        visit_count = sum(visits_by_role.values())  # every role's, an unknown one too
    return {
        "fy": fy,
        "label": wareki_label(fy),
        "centres": rows,
        "total": sum(r["consultations"] for r in rows),
        "by_channel": by_channel,
        "by_client_kind": by_client_kind,
        "by_age_group": by_age_group,
        "outreach_visits": visit_count,
        "outreach_visits_by_staff_role": visits_by_role,
    }
