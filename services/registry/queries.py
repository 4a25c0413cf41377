"""Reads over the registry's read models: supporter search, expiry candidates, roster receipts."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from sqlalchemy import Engine, and_, or_, select

from libs.platform.privacy.keystore import key_still_held
from services.registry.domain.supporter import ENDED
from services.registry.read_models import roster_entries, supporters


def search_supporters(engine: Engine, tenant: str, *, status: str | None, term_ends_before: date | None,
                      after: str | None, limit: int) -> list[dict]:
    """A registrar's supporters by status and term end, ordered by id (cursor = last id)."""
    query = select(supporters).where(supporters.c.tenant == tenant)
    if status:
        query = query.where(supporters.c.status == status)
    if term_ends_before:
        query = query.where(supporters.c.term_ends_on < term_ends_before)
    if after:
        query = query.where(supporters.c.supporter_id > after)
    query = query.order_by(supporters.c.supporter_id).limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def expiry_candidates(engine: Engine, today: date) -> list[UUID]:
    query = select(supporters.c.supporter_id).where(
        supporters.c.status == "registered", supporters.c.term_ends_on < today)
    with engine.connect() as conn:
        return [UUID(r.supporter_id) for r in conn.execute(query)]


def current_supporters(engine: Engine, tenant: str, on: date) -> list[UUID]:
    query = select(supporters.c.supporter_id).where(
        supporters.c.tenant == tenant, supporters.c.status == "registered", supporters.c.consent_active.is_(True),
        supporters.c.use_suspended.is_not(True), supporters.c.term_starts_on <= on, supporters.c.term_ends_on >= on,
    ).order_by(supporters.c.registration_number)
    with engine.connect() as conn:
        return [UUID(r.supporter_id) for r in conn.execute(query)]


def retention_candidates(engine: Engine, ended_before: date) -> list[UUID]:
    """Supporters whose registration ended before the date and whose data is not erased (the
    aggregate has the final say; rows projected before ended_on was kept have none, so the
    aggregate decides for them too), and erased ones whose key outlived a crash."""
    ended = or_(supporters.c.ended_on < ended_before, supporters.c.ended_on.is_(None))
    query = select(supporters.c.supporter_id).where(or_(
        and_(supporters.c.status.in_(ENDED), ended, supporters.c.erased.is_not(True)),
        and_(supporters.c.erased.is_(True), key_still_held(supporters.c.supporter_id))))
    with engine.connect() as conn:
        return [UUID(r.supporter_id) for r in conn.execute(query)]


def roster_received(engine: Engine, recipient: str, registrar: str | None = None) -> list[dict]:
    """What a municipality received: every provision entry, newest first."""
    query = select(roster_entries).where(roster_entries.c.recipient == recipient)
    if registrar:
        query = query.where(roster_entries.c.tenant == registrar)
    query = query.order_by(roster_entries.c.provided_on.desc(), roster_entries.c.registration_number)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def course_names(application, ids: list[str]) -> dict[str, str]:
    """Training courses by title and venue (a supporter's training record names its course)."""
    from services.registry.domain.course import TrainingCourse

    found = {}
    for i in ids:
        try:
            course = application.existing(TrainingCourse, UUID(i))
        except ValueError:
            continue
        if course is not None:
            found[i] = f"{course.title}（{course.venue}）"
    return found
