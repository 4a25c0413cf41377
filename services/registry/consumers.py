"""Registry consumes no other service's events yet; its read models follow its own log."""

from __future__ import annotations

from libs.platform.messaging.consumer import Handler
from libs.platform.runtime import Runtime
from services.registry.projections import RegistryReadModel


def make_read_models(runtime: Runtime) -> list[Handler]:
    model = RegistryReadModel(runtime.engine)
    return [model]
