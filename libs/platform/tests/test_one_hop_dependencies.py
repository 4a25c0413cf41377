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


def _solved(dependant: Dependant) -> list[Any]:
    """Every dependency FastAPI solves for a request of this route (each a recursive solve, and
    a call), depth first."""
    return [d for sub in dependant.dependencies for d in (sub, *_solved(sub))]


def test_the_caller_and_the_application_are_one_dependency_each_with_nothing_beneath_them() -> None:
    """Issue 15: the bearer scheme declared beneath the principal, and the runtime beneath the
    application, made a command's request solve four dependencies where two do."""
    from libs.platform.web.deps import get_principal
    from services.dispatch.api.deps import get_application as dispatch_application
    from services.dispatch.bootstrap import SPEC as DISPATCH
    from services.intake.api.deps import get_application as intake_application
    from services.intake.bootstrap import SPEC as INTAKE
    from services.registry.api.deps import get_application as registry_application
    from services.registry.bootstrap import SPEC as REGISTRY
    from services.reporting.bootstrap import SPEC as REPORTING

    picks = (get_principal, dispatch_application, intake_application, registry_application)
    deeper = {}
    for spec in (DISPATCH, INTAKE, REGISTRY, REPORTING):
        for router in spec.routers:
            for route in router.routes:
                if isinstance(route, APIRoute):
                    for d in _solved(route.dependant):
                        if d.call in picks and d.dependencies:
                            deeper[f"{spec.name} {sorted(route.methods or ())[0]} {route.path}"] = \
                                [getattr(s.call, "__qualname__", repr(s.call)) for s in d.dependencies]
    assert deeper == {}
    consultation = next(r for router in INTAKE.routers for r in router.routes if isinstance(r, APIRoute)
                        and r.path == "/v1/cases/{case_id}/consultations" and "POST" in (r.methods or ()))
    assert [d.call for d in _solved(consultation.dependant)] == [get_principal, intake_application]
