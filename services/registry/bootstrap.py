"""Builds the registry service from settings; nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.db import eventsourcing_env
from libs.platform.service import Runtime, ServiceSpec, create_service_app
from libs.platform.settings import Settings
from services.registry.application import RegistryApplication


def make_application(runtime: Runtime) -> RegistryApplication:
    return RegistryApplication(eventsourcing_env(runtime.settings), runtime.sealer)


SPEC = ServiceSpec(
    name="registry",
    title="Tsunagu registry",
    routers=[],
    make_application=make_application,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
