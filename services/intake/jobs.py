"""Periodic work of intake: personal data whose retention period has ended is erased."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from libs.domain.fiscal import JST
from libs.platform.runtime import Runtime
from services.intake.domain.case import Case
from services.intake.queries import retention_candidates

RETENTION_YEARS = 3  # provision records ≥ 3 years (APPI 規則第20条〜第25条); cases kept as long
RETENTION_INTERVAL_SECONDS = 3600.0


def end_retention(runtime: Runtime) -> list[UUID]:
    runtime.catch_up()
    today = datetime.now(JST).date()
    candidates = retention_candidates(runtime.engine, today - timedelta(days=365 * RETENTION_YEARS - 1))
    return runtime.application.end_retention(Case, today, [UUID(c) for c in candidates], RETENTION_YEARS)
