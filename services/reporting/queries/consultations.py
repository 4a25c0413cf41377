"""延べ相談件数 (every consultation counts, repeat ones included) and 訪問支援, per fiscal year."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, and_, func, select

from libs.domain import intake
from libs.domain.fiscal import wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections import (
    cases,
    centres,
    consultations,
    outreach_visits,
)
from services.reporting.queries.common import count, count_by
from services.reporting.queries.scope import (
    as_of_utc,
    not_voided,
    of_visible_centres,
    until,
    visible_centres,
)


def _per_centre(engine: Engine, actor: Principal, fy: int, as_of: datetime | None) -> list[dict]:
    visible = visible_centres(actor)
    n = func.count(consultations.c.event_id)
    query = (
        select(centres.c.centre_id, centres.c.name, centres.c.kind, centres.c.site, centres.c.tenant,
               n.label("consultations"))
        .select_from(centres.outerjoin(consultations, and_(
            consultations.c.centre_id == centres.c.centre_id, consultations.c.fy == fy,
            until(consultations.c.time, as_of), not_voided(consultations.c.voided_at, as_of))))
        .where(until(centres.c.registered_at, as_of))
        .group_by(centres.c.centre_id, centres.c.name, centres.c.kind, centres.c.site, centres.c.tenant)
        .order_by(centres.c.tenant, centres.c.name, centres.c.centre_id)
    )
    if visible is not None:
        query = query.where(visible)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def consultation_report(engine: Engine, actor: Principal, fy: int, *, as_of: datetime | None = None) -> dict:
    """延べ相談件数 per centre and in total for one fiscal year, by channel (電話・来所・メール・
    訪問・その他), by who the case is about (本人・家族・関係機関) and by age group; 訪問支援
    (outreach visits) are counted separately."""
    as_of = as_of_utc(as_of)
    rows = _per_centre(engine, actor, fy, as_of)
    seen = (of_visible_centres(consultations, actor, as_of), consultations.c.fy == fy,
            not_voided(consultations.c.voided_at, as_of))
    with_case = consultations.outerjoin(cases, cases.c.case_id == consultations.c.case_id)
    visits = (of_visible_centres(outreach_visits, actor, as_of), outreach_visits.c.fy == fy)
    with engine.connect() as conn:
        by_channel = count_by(conn, consultations, consultations.c.channel, *seen, known=intake.CHANNELS)
        by_client_kind = count_by(conn, with_case, cases.c.client_kind, *seen,
                                  known=intake.CLIENT_KINDS)
        by_age_group = count_by(conn, with_case, cases.c.age_group, *seen,
                                known=intake.AGE_GROUPS)
        visit_count = count(conn, outreach_visits, *visits)
        visits_by_role = count_by(conn, outreach_visits, outreach_visits.c.staff_role, *visits,
                                  known=intake.STAFF_ROLES)
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
