"""Reads over dispatch's read models."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from sqlalchemy import Engine, and_, or_, select

from libs.platform.privacy.keystore import key_still_held
from services.dispatch.read_models import deployments, dispatches, erasure_tasks, roster, targets, tasks


def _rows(engine: Engine, query) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def list_dispatches(engine: Engine, tenant: str, *, status: str | None, after: str | None, limit: int) -> list[dict]:
    query = select(dispatches).where(dispatches.c.tenant == tenant)
    if status:
        query = query.where(dispatches.c.status == status)
    if after:
        query = query.where(dispatches.c.dispatch_id > after)
    return _rows(engine, query.order_by(dispatches.c.dispatch_id).limit(limit))


def _the_supporters(table, supporter_id: str, registrar: str):
    """Rows of this supporter, provided to the row's municipality by this registrar (a token of
    another registrar bearing the same id sees none: libs/platform/web/supporters.py)."""
    return and_(table.c.supporter_id == supporter_id, select(roster.c.entry_id).where(
        roster.c.tenant == table.c.tenant, roster.c.supporter_id == supporter_id,
        roster.c.registrar == registrar).exists())


def supporter_dispatches(engine: Engine, supporter_id: str, *, registrar: str) -> list[dict]:
    query = select(dispatches).where(_the_supporters(dispatches, supporter_id, registrar))
    return _rows(engine, query.order_by(dispatches.c.requested_on, dispatches.c.dispatch_id))


def open_tasks(engine: Engine, tenant: str) -> list[dict]:
    query = select(tasks).where(tasks.c.tenant == tenant, tasks.c.open.is_(True)).order_by(tasks.c.reported_on)
    return _rows(engine, query)


def open_erasure_tasks(engine: Engine, tenant: str) -> list[dict]:
    query = select(erasure_tasks).where(erasure_tasks.c.tenant == tenant, erasure_tasks.c.open.is_(True))
    return _rows(engine, query.order_by(erasure_tasks.c.notified_on, erasure_tasks.c.dispatch_id))


def roster_of(engine: Engine, tenant: str) -> list[dict]:
    return _rows(engine, select(roster).where(roster.c.tenant == tenant).order_by(roster.c.registration_number))


def entries_of_supporter(engine: Engine, supporter_id: str) -> list[UUID]:
    query = select(roster.c.entry_id).where(roster.c.supporter_id == supporter_id)
    return [UUID(r["entry_id"]) for r in _rows(engine, query)]


def intake_dispatches_of_subject(engine: Engine, subject_ref: str) -> list[UUID]:
    """Every dispatch INTAKE asked for the person it knows by this reference (its case id); a
    dispatch the municipality opened itself names the person by a reference of its own."""
    query = select(dispatches.c.dispatch_id).where(dispatches.c.subject_ref == subject_ref,
                                                   dispatches.c.source == "intake")
    return [UUID(r["dispatch_id"]) for r in _rows(engine, query.order_by(dispatches.c.dispatch_id))]


def running_dispatches_of_supporter(engine: Engine, supporter_id: str) -> list[UUID]:
    query = select(dispatches.c.dispatch_id).where(
        dispatches.c.supporter_id == supporter_id, dispatches.c.status.in_(("active", "suspended")))
    return [UUID(r["dispatch_id"]) for r in _rows(engine, query)]


def running_deployments_to(engine: Engine, target_id: str) -> list[UUID]:
    query = select(deployments.c.deployment_id).where(
        deployments.c.target_id == target_id, deployments.c.status.in_(("planned", "active")))
    return [UUID(r["deployment_id"]) for r in _rows(engine, query)]


def running_deployments_of_supporter(engine: Engine, supporter_id: str) -> list[UUID]:
    query = select(deployments.c.deployment_id).where(
        deployments.c.supporter_id == supporter_id, deployments.c.status.in_(("planned", "active")))
    return [UUID(r["deployment_id"]) for r in _rows(engine, query)]


def list_deployments(engine: Engine, *, tenant: str | None = None, supporter: tuple[str, str] | None = None,
                     status: str | None, target_id: str | None, after: str | None, limit: int) -> list[dict]:
    """A municipality's deployments, or a supporter's own: (supporter id, registrar)."""
    query = select(deployments)
    if tenant is not None:
        query = query.where(deployments.c.tenant == tenant)
    if supporter is not None:
        query = query.where(_the_supporters(deployments, *supporter))
    if status:
        query = query.where(deployments.c.status == status)
    if target_id:
        query = query.where(deployments.c.target_id == target_id)
    if after:
        query = query.where(deployments.c.deployment_id > after)
    return _rows(engine, query.order_by(deployments.c.deployment_id).limit(limit))


def deployment_target(engine: Engine, target_id: UUID) -> dict | None:
    rows = _rows(engine, select(targets).where(targets.c.target_id == str(target_id)))
    if not rows:
        return None
    return {**rows[0], "local_governments": rows[0]["local_governments"].split()}


def retention_candidates(engine: Engine, ended_before: date) -> list[UUID]:
    """Dispatches ended before the date whose person's data is not erased (the aggregate has the
    final say), and erased ones whose key outlived a crash."""
    query = select(dispatches.c.dispatch_id).where(or_(
        and_(dispatches.c.status == "ended", dispatches.c.ended_on < ended_before, dispatches.c.erased.is_not(True)),
        and_(dispatches.c.erased.is_(True), key_still_held(dispatches.c.dispatch_id))))
    return [UUID(r["dispatch_id"]) for r in _rows(engine, query)]


def party_names(engine: Engine, ids: list[str]) -> dict[str, str]:
    """A supporter who received a person's data, by 登録番号 (their name is their own personal
    data, sealed under their key), and places, programmes and agencies by name."""
    with engine.connect() as conn:
        found = {r.target_id: r.name for r in conn.execute(
            select(targets.c.target_id, targets.c.name).where(targets.c.target_id.in_(ids)))}
        found |= {r.supporter_id: f"ひきこもりサポーター (登録番号 {r.registration_number})" for r in conn.execute(
            select(roster.c.supporter_id, roster.c.registration_number).where(roster.c.supporter_id.in_(ids)))}
    return found
