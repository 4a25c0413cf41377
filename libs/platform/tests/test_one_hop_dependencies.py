"""Attack on h-web + h-tidy: OneHopRoute makes a route's own trip to the thread pool one, but FastAPI
still sends every plain `def` dependency there, one trip each. A service route is one trip in all."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute


def _trips(dependant: Dependant) -> list[str]:
    """The callables of the dependency tree FastAPI runs in the thread pool."""
    seen: list[str] = []
    call: Any = dependant.call
    if call is not None and not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
                                 or inspect.iscoroutinefunction(type(call).__call__)):
        seen.append(getattr(call, "__qualname__", repr(call)))
    elif inspect.isfunction(getattr(call, "__wrapped__", None)) and not inspect.iscoroutinefunction(call.__wrapped__):
        seen.append(call.__wrapped__.__qualname__)  # OneHopRoute's trip for the route itself
    for sub in dependant.dependencies:
        seen += _trips(sub)
    return seen


def test_a_service_route_makes_one_trip_to_the_thread_pool_dependencies_included() -> None:
    from services.dispatch.bootstrap import SPEC as DISPATCH
    from services.intake.bootstrap import SPEC as INTAKE
    from services.registry.bootstrap import SPEC as REGISTRY
    from services.reporting.bootstrap import SPEC as REPORTING

    more = {}
    for spec in (DISPATCH, INTAKE, REGISTRY, REPORTING):
        for router in spec.routers:
            for route in router.routes:
                if isinstance(route, APIRoute) and len(trips := _trips(route.dependant)) > 1:
                    more[f"{spec.name} {sorted(route.methods or ())[0]} {route.path}"] = trips
    assert more == {}
