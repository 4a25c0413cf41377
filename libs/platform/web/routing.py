"""The route class of every service's routers: a plain `def` route costs one hop to the thread pool.

FastAPI runs a `def` endpoint in the thread pool, and then, because the endpoint was not a
coroutine, validates its return value against the response model in the thread pool once more:
two hand-offs per request (a pool submission, a worker woken, the result posted back to the event
loop), each of which cost more than the validation itself (issue 15: `run_in_threadpool` ~16% of
the intake event loop's samples, 29% of it the second hop). `OneHopRoute` gives FastAPI the
endpoint as a coroutine that runs the `def` in the thread pool: FastAPI then validates on the event
loop, where a route's model instance is taken as it is (pydantic does not revalidate an instance
of the model), and serializes there as it always did. The endpoint's signature and annotations
are the function's own (functools.wraps: FastAPI reads them through `__wrapped__`), so
parameters, dependencies and OpenAPI are unchanged. Blocking work stays off the event loop: a
route that returns something else than an instance of its model (a report's dict, which may be
large) has it validated in the same trip, so that what FastAPI validates on the loop is the model.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response


def in_one_hop(endpoint: Callable[..., Any], response_field: Callable[[], Any] = lambda: None) -> Callable[..., Any]:
    """A plain function as a coroutine function that runs it in the thread pool, its return value
    validated there against `response_field()` (FastAPI's field of the route's response model,
    or None); anything else (a coroutine function, a callable object) as it is."""
    if not inspect.isfunction(endpoint) or inspect.iscoroutinefunction(endpoint) \
            or inspect.isgeneratorfunction(endpoint):
        return endpoint

    def run(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        field = response_field()
        if field is None or isinstance(result, Response):
            return result
        value, errors = field.validate(result, {}, loc=("response",))
        return result if errors else value  # refused: FastAPI refuses it again, with its own error

    @functools.wraps(endpoint)
    async def hop(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(run, *args, **kwargs)

    return hop


class OneHopRoute(APIRoute):
    """An APIRoute whose plain `def` endpoint makes one trip to the thread pool, not two."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, in_one_hop(endpoint, lambda: self.response_field), **kwargs)
