"""Builds the registry service from settings; nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.runtime import Runtime, ServiceSpec
from libs.platform.settings import Settings
from libs.platform.store.db import eventsourcing_env
from libs.platform.web.service import create_service_app
from services.registry.api.routes import rosters, supporters, training
from services.registry.application import RegistryApplication, RegistryReads
from services.registry.jobs import (
    EXPIRY_INTERVAL_SECONDS,
    RETENTION_INTERVAL_SECONDS,
    end_retention,
    expire_registrations,
)
from services.registry.queries import course_names
from services.registry.read_models import make_read_models


def make_application(runtime: Runtime) -> RegistryApplication:
    return RegistryApplication(eventsourcing_env(runtime.settings), runtime.sealer, RegistryReads(runtime))


SPEC = ServiceSpec(
    name="registry",
    title="Tsunagu registry",
    description="ひきこもりサポーター: training, consented registration, roster provision, renewal, "
                "withdrawal and revocation (要綱例 第5条〜第17条).",
    routers=[training.router, supporters.router, rosters.router],
    make_application=make_application,
    make_read_models=make_read_models,
    name_parties=lambda runtime, ids: course_names(runtime.application, list(ids)),
    jobs=[("expire-registrations", EXPIRY_INTERVAL_SECONDS, expire_registrations),
          ("end-retention", RETENTION_INTERVAL_SECONDS, end_retention)],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
