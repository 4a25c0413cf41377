"""Builds the intake service from settings; nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.runtime import Runtime, ServiceSpec
from libs.platform.settings import Settings
from libs.platform.store.db import eventsourcing_env
from libs.platform.web.service import create_service_app
from services.intake.api.routes import (
    agencies,
    backups,
    case_records,
    cases,
    centres,
    imports,
    programmes,
    public,
    rights,
)
from services.intake.application import IntakeApplication
from services.intake.jobs import RETENTION_INTERVAL_SECONDS, end_retention
from services.intake.queries import party_names
from services.intake.read_models import make_read_models


def make_application(runtime: Runtime) -> IntakeApplication:
    return IntakeApplication(eventsourcing_env(runtime.settings), runtime.sealer)


SPEC = ServiceSpec(
    name="intake",
    title="Tsunagu intake",
    description="Support centres (ひきこもり地域支援センター), the agency directory, cases, consultations, "
                "outreach, consent to share, referrals (つなぎ) and their outcomes.",
    routers=[centres.router, agencies.router, cases.router, case_records.router, imports.router, rights.router,
             programmes.router, backups.router, public.router],
    make_application=make_application,
    make_read_models=make_read_models,
    name_parties=lambda runtime, ids: party_names(runtime.engine, list(ids)),
    jobs=[("end-retention", RETENTION_INTERVAL_SECONDS, end_retention)],
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
