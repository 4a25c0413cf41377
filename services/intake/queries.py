"""Reads over intake's read models: the public directory, open referrals, a centre's workload."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, and_, func, or_, select

from libs.domain.codes import is_prefecture, prefecture_of
from libs.platform.privacy.keystore import key_still_held
from services.intake.read_models import activity, agencies, backups, cases, centres, places, referrals, rights_requests


def _rows(engine: Engine, query) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def directory_centres(engine: Engine, municipality: str | None) -> list[dict]:
    """Centres and windows serving a municipality: its own windows and satellites, and the
    centres of its prefecture (and of itself, when it is a designated city)."""
    query = select(centres.c.centre_id, centres.c.name, centres.c.kind, centres.c.site, centres.c.tenant,
                   centres.c.municipality, centres.c.address, centres.c.phone, centres.c.hours)
    if municipality:
        query = query.where(or_(centres.c.municipality == municipality, centres.c.tenant == municipality,
                                centres.c.tenant == prefecture_of(municipality)))
    return _rows(engine, query.order_by(centres.c.site, centres.c.name, centres.c.centre_id))


def directory_agencies(engine: Engine, *, category: str | None, municipality: str | None) -> list[dict]:
    query = select(agencies).where(agencies.c.retired_on.is_(None))
    if category:
        query = query.where(agencies.c.category == category)
    if municipality:
        query = query.where(agencies.c.municipality == municipality)
    return _rows(engine, query.order_by(agencies.c.category, agencies.c.name, agencies.c.agency_id))


def agencies_within(engine: Engine, jurisdiction: str, *, category: str | None, retired: bool | None,
                    after: str | None, limit: int) -> list[dict]:
    """The agencies listed in a jurisdiction (a prefecture: itself and its municipalities; a
    municipality: itself) or registered by its government, retired ones included, paged by id."""
    if is_prefecture(jurisdiction):
        inside = func.substr(agencies.c.municipality, 1, 2) == jurisdiction[:2]
    else:
        inside = agencies.c.municipality == jurisdiction
    query = select(agencies).where(or_(inside, agencies.c.tenant == jurisdiction))
    if category:
        query = query.where(agencies.c.category == category)
    if retired is not None:
        query = query.where(agencies.c.retired_on.is_not(None) if retired else agencies.c.retired_on.is_(None))
    if after:
        query = query.where(agencies.c.agency_id > after)
    return _rows(engine, query.order_by(agencies.c.agency_id).limit(limit))


def open_referrals(engine: Engine, centre_id: str) -> list[dict]:
    query = select(referrals).where(referrals.c.centre_id == centre_id, referrals.c.outcome.is_(None),
                                    referrals.c.closed.is_(False)).order_by(referrals.c.referred_on)
    return _rows(engine, query)


def workload(engine: Engine, centre_id: str, fy: int) -> dict:
    with engine.connect() as conn:
        by_kind: dict[str, int] = dict(conn.execute(select(activity.c.kind, func.count()).where(
            activity.c.centre_id == centre_id, activity.c.fy == fy).group_by(activity.c.kind)).tuples().all())
        open_cases = conn.execute(select(func.count()).select_from(cases).where(
            cases.c.centre_id == centre_id, cases.c.status == "open")).scalar_one()
        waiting = conn.execute(select(func.count()).select_from(referrals).where(
            referrals.c.centre_id == centre_id, referrals.c.outcome.is_(None),
            referrals.c.closed.is_(False))).scalar_one()
    return {"centre_id": centre_id, "fy": fy, "open_cases": open_cases, "referrals_awaiting_outcome": waiting,
            "consultations": by_kind.get("consultation", 0), "outreach_visits": by_kind.get("outreach", 0),
            "support_meetings": by_kind.get("meeting", 0), "backoffice_supports": by_kind.get("backoffice", 0)}


def rights_requests_of(engine: Engine, centre_id: str, *, open_only: bool, today: date) -> list[dict]:
    """A centre's requests about personal data, oldest deadline first, with whether each is overdue."""
    query = select(rights_requests).where(rights_requests.c.centre_id == centre_id)
    if open_only:
        query = query.where(rights_requests.c.answered_on.is_(None))
    rows = _rows(engine, query.order_by(rights_requests.c.due_on, rights_requests.c.request_id))
    return [{**r, "overdue": r["answered_on"] is None and today > r["due_on"]} for r in rows]


def retention_candidates(engine: Engine, closed_before: date) -> list[str]:
    """Closed, not yet erased cases closed before the date (the aggregate has the final say), and
    erased cases whose key outlived a crash."""
    query = select(cases.c.case_id).where(or_(
        and_(cases.c.status == "closed", cases.c.erased.is_(False), cases.c.closed_on < closed_before),
        and_(cases.c.erased.is_(True), key_still_held(cases.c.case_id))))
    return [r["case_id"] for r in _rows(engine, query)]


def directory_places(engine: Engine, municipality: str | None) -> list[dict]:
    query = select(places.c.place_id, places.c.name, places.c.operator, places.c.municipality, places.c.address,
                   places.c.schedule).where(places.c.closed_on.is_(None))
    if municipality:
        query = query.where(places.c.municipality == municipality)
    return _rows(engine, query.order_by(places.c.name, places.c.place_id))


def backups_of(engine: Engine, *, tenant: str | None = None, municipality: str | None = None,
               kind: str | None, after: str | None, limit: int) -> list[dict]:
    """Back-up given by a prefecture (tenant) or received by a municipality, paged by id."""
    query = select(backups)
    if tenant is not None:
        query = query.where(backups.c.tenant == tenant)
    if municipality is not None:
        query = query.where(backups.c.municipality == municipality)
    if kind:
        query = query.where(backups.c.kind == kind)
    if after:
        query = query.where(backups.c.backup_id > after)
    return _rows(engine, query.order_by(backups.c.backup_id).limit(limit))


def party_names(engine: Engine, ids: list[str]) -> dict[str, str]:
    """Agencies and centres by name (the recipients a disclosure names), for the ids known here."""
    with engine.connect() as conn:
        found = {r.agency_id: r.name for r in conn.execute(
            select(agencies.c.agency_id, agencies.c.name).where(agencies.c.agency_id.in_(ids)))}
        found |= {r.centre_id: r.name for r in conn.execute(
            select(centres.c.centre_id, centres.c.name).where(centres.c.centre_id.in_(ids)))}
    return found
