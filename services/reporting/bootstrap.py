"""Builds the reporting service from settings; nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.readmodels import heartbeat
from libs.platform.readmodels.rebuilds import watch_replay
from libs.platform.readmodels.stamps import watch_stamp
from libs.platform.runtime import Runtime, ServiceSpec
from libs.platform.settings import Settings
from libs.platform.web.service import create_service_app
from services.reporting.api.routes import (
    dashboard,
    exports,
    rebuild,
    reports,
    submissions,
    supporters,
)
from services.reporting.consumers import make_consumers
from services.reporting.projections import ReportingProjection


async def watch(runtime: Runtime) -> None:
    await watch_replay(runtime, runtime.get(ReportingProjection))


async def stamp(runtime: Runtime) -> None:
    await watch_stamp(runtime, runtime.get(ReportingProjection))


SPEC = ServiceSpec(
    name="reporting",
    title="Tsunagu reporting",
    description="The ministry's yearly statistics (活動指標・成果目標) as projections of the event streams.",
    routers=[reports.router, supporters.router, exports.router, submissions.router, dashboard.router,
             rebuild.router],
    make_consumers=make_consumers,
    # The heartbeat lets an offline rebuild refuse to run under a live service; `replay` reads the
    # streams' ends for a replay and shows its progress.
    # `stamp`, in every replica: one of an older release than the read models' stamp stops its
    # consumers and goes unready, standby or not (readmodels/stamps.py).
    jobs=[("heartbeat", heartbeat.BEAT_SECONDS, heartbeat.beat), ("replay", 0.5, watch), ("stamp", 1.0, stamp)],
    per_process=frozenset({"stamp"}),
    on_stop=heartbeat.stop,
    consumer_batch_size=2000,  # its requests only read: a rebuild writes less per event in larger batches
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
