"""Builds the reporting service from settings; nothing connects at import time."""

from __future__ import annotations

from fastapi import FastAPI

from libs.platform.service import ServiceSpec, create_service_app
from libs.platform.settings import Settings
from services.reporting.api.routes import dashboard, exports, reports, submissions, supporters
from services.reporting.consumers import make_consumers

SPEC = ServiceSpec(
    name="reporting",
    title="Tsunagu reporting",
    description="The ministry's yearly statistics (活動指標・成果目標) as projections of the event streams.",
    routers=[reports.router, supporters.router, exports.router, submissions.router, dashboard.router],
    make_consumers=make_consumers,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
