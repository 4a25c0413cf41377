"""市町村等の実施体制 by fiscal year (seeds/002: in 令和6年度 303 municipalities — 38 centres, 110
stations, 155 support programmes), 居場所 sessions and participants, group activities, 後方支援 of
centres and of prefectures (with the municipalities backed up and the staff days dispatched)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, and_, func, or_, select

from libs.domain import intake
from libs.domain.fiscal import fiscal_year_bounds, wareki_label
from libs.platform.web.auth import Principal
from services.reporting.projections.tables import programmes
from services.reporting.projections.tallies import (
    Rollup,
    backoffice_support_rollup,
    group_activity_rollup,
    place_session_counts,
    place_session_rollup,
    prefectural_backup_counts,
)
from services.reporting.queries.common import cells, count_by, rolled_up
from services.reporting.queries.scope import (
    as_of_utc,
    hidden_tenants,
    nationwide,
    of_visible_cells,
    until,
    visible_tenants,
)


def _by_kind(conn: Connection, rollup: Rollup, actor: Principal, fy: int, as_of: datetime | None,
             prefecture: str | None, known: tuple[str, ...]) -> dict[str, int]:
    """Counts by kind over the tenants the caller may see: from the national cells when nationwide."""
    if nationwide(actor, as_of, prefecture):
        found = rolled_up(rollup, fy, hidden_tenants(rollup.units.table.c.tenant, actor))
        return count_by(conn, found, found.c.kind, known=known)
    c = cells(rollup.tally, as_of, (fy,))
    return count_by(conn, c, c.c.kind, of_visible_cells(c, actor, prefecture), c.c.fy == fy, known=known)


def _sessions(conn: Connection, actor: Principal, fy: int, as_of: datetime | None, prefecture: str | None) -> tuple:
    """居場所: the places with a session in the year, the sessions, their participants and supporters.
    Nationwide from the roll-up: its national cells (one a place) less the hidden tenants' cells;
    a place drops out when the hidden ones hold all of its sessions."""
    values = ("n", "participants", "supporters")
    if not nationwide(actor, as_of, prefecture):
        s = cells(place_session_counts, as_of, (fy,))
        totals = (func.coalesce(func.sum(s.c[v]), 0) for v in values)
        seen = (of_visible_cells(s, actor, prefecture), s.c.fy == fy)
        return tuple(conn.execute(select(func.count(func.distinct(s.c.place_id)), *totals).where(*seen)).one())
    national, fine = place_session_rollup.national.table, place_session_rollup.tally.table
    units = place_session_rollup.units.table
    unseen = select(units.c.tenant).where(units.c.fy == fy, hidden_tenants(units.c.tenant, actor))
    hidden = (select(fine.c.place_id, *(func.sum(fine.c[v]).label(v) for v in values))
              .where(fine.c.fy == fy, fine.c.tenant.in_(unseen)).group_by(fine.c.place_id).subquery())
    places, *sums = conn.execute(select(func.count(), *(func.coalesce(func.sum(national.c[v]), 0) for v in values))
                                 .where(national.c.fy == fy)).one()
    gone, *less = conn.execute(
        select(func.count(national.c.place_id).filter(national.c.n == hidden.c.n),
               *(func.coalesce(func.sum(hidden.c[v]), 0) for v in values))
        .select_from(hidden.outerjoin(national, (national.c.fy == fy) & (national.c.place_id == hidden.c.place_id)))
    ).one()
    return (places - gone, *(a - b for a, b in zip(sums, less, strict=True)))


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
        places, *sessions = _sessions(conn, actor, fy, as_of, prefecture)
        activities = _by_kind(conn, group_activity_rollup, actor, fy, as_of, prefecture, intake.GROUP_ACTIVITY_KINDS)
        backoffice = _by_kind(conn, backoffice_support_rollup, actor, fy, as_of, prefecture, intake.BACKOFFICE_KINDS)
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
