"""延べ相談件数 (every consultation counts, repeat ones included) and 訪問支援, per fiscal year."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, and_, func, select

from libs.domain import intake
from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections import centres, consultations
from services.reporting.projections.tallies import consultation_counts, outreach_visit_counts
from services.reporting.queries.common import cells, count_by, counts_by
from services.reporting.queries.scope import (
    as_of_utc,
    not_voided,
    of_visible_centres,
    until,
    visible_centres,
)


def consultation_report(engine: Engine, actor: Principal, fy: int, *, as_of: datetime | None = None,
                        prefecture: str | None = None) -> dict:
    """延べ相談件数 per centre and in total for one fiscal year, by channel (電話・来所・メール・
    訪問・その他), by who the case is about (本人・家族・関係機関) and by age group; 訪問支援
    (outreach visits) are counted separately."""
    as_of = as_of_utc(as_of)
    held = cells(consultation_counts, as_of, (fy,), counted=not_voided(consultations.c.voided_at, as_of))
    visits = cells(outreach_visit_counts, as_of, (fy,))
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
    seen = (of_visible_centres(held, actor, as_of, prefecture), held.c.fy == fy)
    visited = (of_visible_centres(visits, actor, as_of, prefecture), visits.c.fy == fy)
    with engine.connect() as conn:
        rows = [{**r._mapping, "consultations": int(r.consultations)} for r in conn.execute(per_centre)]
        by = counts_by(conn, held, {"channel": (held.c.channel, intake.CHANNELS),
                                    "client_kind": (held.c.client_kind, intake.CLIENT_KINDS),
                                    "age_group": (held.c.age_group, intake.AGE_GROUPS)}, *seen)
        by_channel, by_client_kind, by_age_group = by["channel"], by["client_kind"], by["age_group"]
        visits_by_role = count_by(conn, visits, visits.c.staff_role, *visited, known=intake.STAFF_ROLES)
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
