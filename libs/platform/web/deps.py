"""FastAPI dependencies shared by every service, as Annotated aliases.

The dependencies that only pick something out of the request are `async def`: FastAPI runs a plain
`def` dependency in the thread pool, and each such hop (a pool submission, a worker woken, the
result posted back to the event loop) cost more than the whole dependency; three of them per
request (runtime, application, principal) were a fifth of the event loop's time in issue 15's
profile. Anything that may block (a JWKS fetch) still goes to a thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool

from libs.domain.errors import InvalidInput
from libs.platform.runtime import Runtime
from libs.platform.web.auth import Principal, recalled_authentication


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


class BearerPrincipal(HTTPBearer):
    """The caller, as one dependency that is also the bearer scheme OpenAPI declares (generators
    learn it). Declaring the scheme as a sub-dependency of the principal's made FastAPI solve two
    dependencies a request where one does, and parse the header for a value nobody read (issue 15).
    The header is read here, so that every refusal keeps its own words (a Basic header, a token too
    long, …): HTTPBearer's own parsing is not used."""

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]  # the principal, not the credentials
        if (recalled := recalled_authentication(request.scope)) is not None:
            return recalled
        authenticator = request.app.state.runtime.authenticator
        authorization = request.headers.get("authorization")
        if authenticator.fetches_keys:  # the issuer's key set may be fetched: off the event loop
            return await run_in_threadpool(authenticator.principal, authorization)
        return authenticator.principal(authorization)  # a local key: microseconds, and cached


get_principal = BearerPrincipal(auto_error=False, scheme_name="bearer", bearerFormat="JWT",
                                description="A JWT with the claims sub, org, roles, iat and exp (README: Tokens)")

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PrincipalDep = Annotated[Principal, Security(get_principal)]


async def get_operator(actor: PrincipalDep) -> Principal:
    """The caller, who must be an operator of the service (the ops routes, /readyz's checks)."""
    actor.require("operator")
    return actor


OperatorDep = Annotated[Principal, Depends(get_operator)]
# An empty key is refused (422): read as no key, it made a new resource at every retry.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=100)]


def expected_version(if_match: str | None) -> int | None:
    """The aggregate version named by an If-Match header (`"3"`, `W/"3"` or `3`)."""
    if if_match is None or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise InvalidInput(f"If-Match must be an aggregate version, got {if_match!r}")
    return int(raw)
