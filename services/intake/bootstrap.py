"""Builds the intake service from settings; nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.db import eventsourcing_env
from libs.platform.service import Runtime, ServiceSpec, create_service_app
from libs.platform.settings import Settings
from services.intake.api.routes import cases, centres
from services.intake.application import IntakeApplication


def make_application(runtime: Runtime) -> IntakeApplication:
    return IntakeApplication(eventsourcing_env(runtime.settings), runtime.sealer)


SPEC = ServiceSpec(
    name="intake",
    title="Tsunagu intake",
    description="Support centres (ひきこもり地域支援センター), cases and consultations.",
    routers=[centres.router, cases.router],
    make_application=make_application,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
