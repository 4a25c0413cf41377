"""The one problem mapper: every error becomes RFC 9457 application/problem+json."""

from __future__ import annotations

import logging

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, PersistenceError
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import InterfaceError as SqlInterfaceError
from sqlalchemy.exc import OperationalError as SqlOperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from libs.domain.errors import DomainError
from libs.platform.limits import install_limits
from libs.platform.store.connection_lost import connection_lost

log = logging.getLogger(__name__)
PROBLEM_BASE = "https://tsunagu.jp/problems/"
MEDIA_TYPE = "application/problem+json"


def problem(status: int, slug: str, title: str, detail: str | None = None,
            extensions: dict[str, object] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, object] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    # Extension members never replace the standard ones (RFC 9457 §3.2).
    body.update({k: v for k, v in (extensions or {}).items() if k not in body})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error as a problem, and the request body limit, whose refusal (413) is one of them:
    installed here so that no service can have the one without the other."""
    install_limits(app)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        # e.g. Retry-After of a 503
        return problem(exc.status, exc.problem, exc.title, exc.detail, exc.extensions, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        kinds = {e.get("type") for e in exc.errors()}
        body_errors = [e for e in exc.errors() if tuple(e.get("loc", ()))[:1] == ("body",)]
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if body_errors and content_type and not (content_type == "application/json" or content_type.endswith("+json")):
            return problem(415, "unsupported-media-type", "Unsupported media type",
                           f"send the body as application/json, not {content_type[:100]}")
        if "json_invalid" in kinds:
            return problem(400, "malformed-json", "Malformed JSON", "the body is not well-formed JSON")
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem(422, "invalid-input", "Invalid input", "the request does not match the schema",
                       {"errors": errors})

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        slugs = {404: "not-found", 405: "method-not-allowed", 413: "request-too-large"}
        slug = slugs.get(exc.status_code, "http-error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Allow (RFC 9110 §15.5.6): every method of the path, not one route's
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem(exc.status_code, slug, str(exc.detail), headers=headers or None)

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        return problem(409, "conflict", "Concurrent change",
                       "the resource was changed by another request; re-read and retry")

    @app.exception_handler(AggregateNotFoundError)
    async def _not_found(_: Request, exc: AggregateNotFoundError) -> JSONResponse:
        return problem(404, "not-found", "Not found")

    # The database went away (a restart, a failover, connections cut): nothing was written, and
    # the same request can succeed in a moment — a 503 with Retry-After, not a 500.
    @app.exception_handler(StoreOperationalError)
    @app.exception_handler(StoreInterfaceError)
    @app.exception_handler(SqlOperationalError)
    @app.exception_handler(SqlInterfaceError)
    async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem(503, "database-unavailable", "The database is not answering",
                       "nothing was changed; try again in a moment", headers={"Retry-After": "2"})

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error: %s", type(exc).__name__)
        return problem(500, "internal", "Internal error")

    # Other database errors are the database gone too when they left the connection unusable (a
    # session the server ended for idling in a transaction is an InternalError: connection_lost.py).
    @app.exception_handler(PersistenceError)
    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        if connection_lost(exc):
            return await _database_unavailable(request, exc)
        return await _unexpected(request, exc)


def allowed_methods(request: Request) -> list[str]:
    """The methods the request's path takes, over every route. Starlette answers a 405 from the
    first route whose path matched, so its Allow named that route's methods only: a path with GET
    and POST declared as two routes said `Allow: GET` to a DELETE. Each method is asked of the
    routes as a request would be (FastAPI nests included routers in routes of its own)."""
    return [method for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                   for route in request.app.router.routes)]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
