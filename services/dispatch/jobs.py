"""Periodic work of dispatch: no dispatch or deployment runs on with a supporter whose registration ended.

The REGISTRY consumer ends running dispatches when it learns of the end. A dispatch started at the
very moment the end arrived (the start read the entry before the consumer marked it, the consumer
looked for running dispatches before the start committed) would escape it; this sweep ends such a
dispatch within a minute. The same holds for deployments to places and programmes.

The person's data on a dispatch that ended more than RETENTION_YEARS ago is erased.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import and_, select

from libs.domain.fiscal import JST
from libs.platform.runtime import Runtime
from services.dispatch.consumers import DEPLOYMENT_END, ENDINGS
from services.dispatch.domain.deployment import Deployment
from services.dispatch.domain.dispatch import Dispatch
from services.dispatch.queries import retention_candidates
from services.dispatch.read_models import deployments, dispatches, roster

SWEEP_INTERVAL_SECONDS = 60.0
RETENTION_YEARS = 3  # disclosure records to the supporter ≥ 3 years (APPI 規則第20条〜第25条)
RETENTION_INTERVAL_SECONDS = 3600.0
END_REASON = {why: reason for why, _, _, reason in ENDINGS.values()}


def end_dispatches_of_ended_supporters(runtime: Runtime) -> list[UUID]:
    runtime.catch_up()
    return (_end_running(runtime, dispatches, dispatches.c.dispatch_id, ("active", "suspended"), Dispatch, END_REASON)
            + _end_running(runtime, deployments, deployments.c.deployment_id, ("planned", "active"), Deployment,
                           DEPLOYMENT_END)
            + _pause_for_use_suspension(runtime))


def _pause_for_use_suspension(runtime: Runtime) -> list[UUID]:
    """The same race for 利用停止: a dispatch started (or a deployment made) while the suspension
    was being handled is suspended (ended) here, as the REGISTRY consumer would have done."""
    suspended = roster.c.use_suspended.is_(True)
    today, changed = datetime.now(JST).date(), []
    for dispatch_id, _ in _running_on_roster(runtime, dispatches, dispatches.c.dispatch_id, ("active",), suspended):
        dispatch = runtime.application.existing(Dispatch, dispatch_id)
        if dispatch.status == "active":
            dispatch.suspend(reason="supporter_use_suspended", suspended_on=today)
            runtime.application.save(dispatch)
            changed.append(dispatch_id)
    for deployment_id, _ in _running_on_roster(runtime, deployments, deployments.c.deployment_id,
                                               ("planned", "active"), suspended):
        deployment = runtime.application.existing(Deployment, deployment_id)
        if deployment.end(reason="supporter_use_suspended", ended_on=today):
            runtime.application.save(deployment)
            changed.append(deployment_id)
    return changed


def _end_running(runtime: Runtime, table, id_column, running, aggregate, reasons) -> list[UUID]:
    ended = []
    for aggregate_id, why in _running_on_roster(runtime, table, id_column, running, roster.c.ended.is_not(None)):
        item = runtime.application.existing(aggregate, aggregate_id)
        if item.end(reason=reasons[why], ended_on=datetime.now(JST).date()):
            runtime.application.save(item)
            ended.append(aggregate_id)
    return ended


def _running_on_roster(runtime: Runtime, table, id_column, statuses, condition) -> list[tuple[UUID, str | None]]:
    """(id, why the registration ended) of the dispatches or deployments in `statuses` whose
    supporter's roster entry in that municipality meets `condition`."""
    query = select(id_column, roster.c.ended).select_from(table.join(roster, and_(
        roster.c.tenant == table.c.tenant, roster.c.supporter_id == table.c.supporter_id))).where(
        table.c.status.in_(statuses), condition)
    with runtime.engine.connect() as conn:
        return [(UUID(r[0]), r.ended) for r in conn.execute(query)]


def end_retention(runtime: Runtime) -> list[UUID]:
    """SubjectDataErased (basis retention_ended) once per dispatch ended more than RETENTION_YEARS
    ago, then its key destroyed; nothing younger is touched."""
    runtime.catch_up()
    today = datetime.now(JST).date()
    candidates = retention_candidates(runtime.engine, today - timedelta(days=365 * RETENTION_YEARS - 1))
    return runtime.application.end_retention(Dispatch, today, candidates, RETENTION_YEARS)
