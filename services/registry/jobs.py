"""Periodic work of the registry: registrations whose term has ended expire by themselves; the
personal data of registrations that ended more than RETENTION_YEARS ago is erased."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from libs.platform.runtime import Runtime
from services.registry.application import today_jst
from services.registry.domain.supporter import Supporter
from services.registry.queries import expiry_candidates, retention_candidates

EXPIRY_INTERVAL_SECONDS = 60.0
RETENTION_YEARS = 3  # roster provision records ≥ 3 years (APPI 規則第20条〜第25条)
RETENTION_INTERVAL_SECONDS = 3600.0


def expire_registrations(runtime: Runtime) -> list[UUID]:
    """RegistrationExpired, once per supporter whose 登録期間 has ended (idempotent: the
    aggregate records it only while registered, and a concurrent run loses on its version)."""
    runtime.catch_up()
    today = today_jst()
    return runtime.application.expire_due(today, expiry_candidates(runtime.engine, today))


def end_retention(runtime: Runtime) -> list[UUID]:
    """SupporterDataErased (basis retention_ended) once per supporter whose registration ended more
    than RETENTION_YEARS ago, then the key destroyed; nothing younger is touched."""
    runtime.catch_up()
    today = today_jst()
    candidates = retention_candidates(runtime.engine, today - timedelta(days=365 * RETENTION_YEARS - 1))
    return runtime.application.end_retention(Supporter, today, candidates, RETENTION_YEARS)
