"""FastAPI dependencies shared by every service, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from libs.domain.errors import InvalidInput
from libs.platform.runtime import Runtime
from libs.platform.web.auth import Principal, recalled_authentication


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


# Declares the bearer scheme in OpenAPI (generators learn it); the header itself is read below,
# so that every refusal keeps its own words (a Basic header, a token too long, …).
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="JWT",
                    description="A JWT with the claims sub, org, roles, iat and exp (README: Tokens)")


def get_principal(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None
) -> Principal:
    return recalled_authentication(request.scope) or get_runtime(request).authenticator.principal(
        request.headers.get("authorization"))


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_operator(actor: PrincipalDep) -> Principal:
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
