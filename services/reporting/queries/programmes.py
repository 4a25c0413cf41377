"""市町村等の実施体制 by fiscal year (seeds/002: in 令和6年度 303 municipalities — 38 centres, 110
stations, 155 support programmes), 居場所 sessions and participants, group activities, 後方支援 of
centres and of prefectures (with the municipalities backed up and the staff days dispatched)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, and_, func, or_, select

from libs.domain import intake
from libs.domain.fiscal import fiscal_year_bounds, wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections.tables import programmes
from services.reporting.projections.tallies import (
    backoffice_support_counts,
    group_activity_counts,
    place_session_counts,
    prefectural_backup_counts,
)
from services.reporting.queries.common import cells, count_by
from services.reporting.queries.scope import as_of_utc, of_visible_cells, until, visible_tenants


def programmes_report(engine: Engine, actor: Principal, fy: int, *, as_of: datetime | None = None,
                      prefecture: str | None = None) -> dict:
    as_of = as_of_utc(as_of)
    start, end = (b.date() for b in fiscal_year_bounds(fy))
    p = programmes
    running = and_(p.c.starts_on < end, or_(p.c.ended_on.is_(None), p.c.ended_on >= start), until(p.c.time, as_of))
    visible = visible_tenants(actor, p.c.tenant, prefecture)
    where = running if visible is None else and_(running, visible)
    with engine.connect() as conn:
        governments: dict[str, int] = dict(conn.execute(
            select(p.c.kind, func.count(func.distinct(p.c.tenant))).where(where).group_by(p.c.kind)).tuples().all())
        all_governments = conn.execute(select(func.count(func.distinct(p.c.tenant))).where(where)).scalar_one()
        s = cells(place_session_counts, as_of, (fy,))
        seen = (of_visible_cells(s, actor, prefecture), s.c.fy == fy)
        sessions = conn.execute(select(func.coalesce(func.sum(s.c.n), 0), func.coalesce(func.sum(s.c.participants), 0),
                                       func.coalesce(func.sum(s.c.supporters), 0)).where(*seen)).one()
        places = conn.execute(select(func.count(func.distinct(s.c.place_id))).where(*seen)).scalar_one()
        g = cells(group_activity_counts, as_of, (fy,))
        activities = count_by(conn, g, g.c.kind, of_visible_cells(g, actor, prefecture), g.c.fy == fy,
                              known=intake.GROUP_ACTIVITY_KINDS)
        b = cells(backoffice_support_counts, as_of, (fy,))
        backoffice = count_by(conn, b, b.c.kind, of_visible_cells(b, actor, prefecture), b.c.fy == fy,
                              known=intake.BACKOFFICE_KINDS)
        pb = cells(prefectural_backup_counts, as_of, (fy,))
        given = (of_visible_cells(pb, actor, prefecture), pb.c.fy == fy)
        backups = count_by(conn, pb, pb.c.kind, *given, known=intake.BACKUP_KINDS)
        backed, staff_days = conn.execute(select(func.count(func.distinct(pb.c.municipality)),
                                                 func.coalesce(func.sum(pb.c.staff_days), 0)).where(*given)).one()
    return {
        "fy": fy, "label": wareki_label(fy),
        "local_governments_by_programme": {k: governments.get(k, 0) for k in intake.PROGRAMME_KINDS},
        "local_governments": all_governments,
        "places": places, "place_sessions": int(sessions[0]), "place_participants": int(sessions[1]),
        "supporters_at_places": int(sessions[2]),
        "group_activities": activities, "backoffice_supports": backoffice,
        "prefectural_backups": backups, "municipalities_backed_up": backed, "staff_days_dispatched": int(staff_days),
    }
