"""Intake consumes no other service's events; its read models follow its own log."""

from __future__ import annotations

from libs.platform.messaging.consumer import Handler
from libs.platform.runtime import Runtime
from services.intake.projections import IntakeReadModel


def make_read_models(runtime: Runtime) -> list[Handler]:
    return [IntakeReadModel(runtime.engine)]
