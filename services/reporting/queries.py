"""Report queries over the projections, scoped to what the caller may see."""

from __future__ import annotations

from sqlalchemy import Engine, and_, func, select

from libs.domain.codes import is_prefecture
from libs.domain.fiscal import wareki_label
from libs.platform.auth import NotAllowed, Principal
from services.reporting.projections import centres, consultations

NATIONWIDE_ROLES = ("ministry", "auditor")


def _visible_centres(actor: Principal):  # noqa: ANN202 - a SQLAlchemy clause
    if actor.has(*NATIONWIDE_ROLES):
        return None
    if actor.has("prefecture_officer"):
        if is_prefecture(actor.org):
            # A prefecture sees its own centres and those of local governments inside it.
            return func.substr(centres.c.tenant, 1, 2) == actor.org[:2]
        return centres.c.tenant == actor.org
    if actor.has("centre_staff"):
        return centres.c.centre_id == actor.org
    raise NotAllowed("reports are for the ministry, prefectures, designated cities and centres")


def consultation_report(engine: Engine, actor: Principal, fy: int) -> dict:
    """延べ相談件数 per centre and in total for one fiscal year."""
    visible = _visible_centres(actor)
    count = func.count(consultations.c.event_id)
    query = (
        select(centres.c.centre_id, centres.c.name, centres.c.kind, centres.c.site, centres.c.tenant,
               count.label("consultations"))
        .select_from(centres.outerjoin(consultations, and_(
            consultations.c.centre_id == centres.c.centre_id, consultations.c.fy == fy)))
        .group_by(centres.c.centre_id, centres.c.name, centres.c.kind, centres.c.site, centres.c.tenant)
        .order_by(centres.c.tenant, centres.c.name, centres.c.centre_id)
    )
    if visible is not None:
        query = query.where(visible)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    return {
        "fy": fy,
        "label": wareki_label(fy),
        "centres": rows,
        "total": sum(r["consultations"] for r in rows),
    }
