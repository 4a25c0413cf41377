"""Periodic work of the registry: registrations whose term has ended expire by themselves."""

from __future__ import annotations

from uuid import UUID

from libs.platform.service import Runtime
from services.registry.application import today_jst
from services.registry.queries import expiry_candidates

EXPIRY_INTERVAL_SECONDS = 60.0


def expire_registrations(runtime: Runtime) -> list[UUID]:
    """RegistrationExpired, once per supporter whose 登録期間 has ended (idempotent: the
    aggregate records it only while registered, and a concurrent run loses on its version)."""
    runtime.catch_up()
    today = today_jst()
    return runtime.application.expire_due(today, expiry_candidates(runtime.engine, today))
