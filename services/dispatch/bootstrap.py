"""Builds the dispatch service from settings; nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.runtime import Runtime, ServiceSpec
from libs.platform.settings import Settings
from libs.platform.store.db import eventsourcing_env
from libs.platform.web.service import create_service_app
from services.dispatch.api.routes import deployments, dispatches, roster
from services.dispatch.application import DispatchApplication, DispatchReads
from services.dispatch.consumers import make_consumers
from services.dispatch.jobs import (
    RETENTION_INTERVAL_SECONDS,
    SWEEP_INTERVAL_SECONDS,
    end_dispatches_of_ended_supporters,
    end_retention,
)
from services.dispatch.queries import party_names
from services.dispatch.read_models import make_read_models


def make_application(runtime: Runtime) -> DispatchApplication:
    return DispatchApplication(eventsourcing_env(runtime.settings), runtime.sealer, DispatchReads(runtime))


SPEC = ServiceSpec(
    name="dispatch",
    title="Tsunagu dispatch",
    description="ひきこもりサポーター派遣: a registered supporter sent to a person who asks, with both "
                "sides' consent, activity reports (資料8), and a stop on request.",
    routers=[roster.router, dispatches.router, deployments.router],
    make_application=make_application,
    make_consumers=make_consumers,
    make_read_models=make_read_models,
    name_parties=lambda runtime, ids: party_names(runtime.engine, list(ids)),
    jobs=[("end-dispatches-of-ended-supporters", SWEEP_INTERVAL_SECONDS, end_dispatches_of_ended_supporters),
          ("end-retention", RETENTION_INTERVAL_SECONDS, end_retention)],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
