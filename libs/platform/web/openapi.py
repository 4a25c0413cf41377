"""The OpenAPI document as generated clients need it (issue 18): the bearer scheme, and every error
status an operation can answer, as application/problem+json with one shared Problem schema.

FastAPI documents only the success and its own 422 (as HTTPValidationError, which our services
never send). What each operation can answer follows from what the service does for every request
(libs/platform/web: edge limits, auth, problems) and from the operation's shape (a body, a path
parameter, If-Match), so it is added here, once, for every operation of every service.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from libs.platform.web.problems import MEDIA_TYPE, PROBLEM_BASE

PROBLEM = {
    "type": "object",
    "description": f"An RFC 9457 problem. `type` is {PROBLEM_BASE}<slug>; extension members may follow.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array", "description": "what did not match the schema (422 invalid-input)",
            "items": {"type": "object", "required": ["loc", "msg", "type"], "properties": {
                "loc": {"type": "array", "items": {"type": "string"}},
                "msg": {"type": "string"}, "type": {"type": "string"}}},
        },
    },
    "additionalProperties": True,
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
CHALLENGE = {"WWW-Authenticate": {"description": 'Bearer realm="tsunagu" (RFC 6750)', "schema": {"type": "string"}}}
WRITES = {"post", "put", "patch", "delete"}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {
        MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if headers:
        response["headers"] = headers
    return response


def _errors(path: str, method: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The error statuses this operation can answer, beside what it documents itself."""
    headers = {p["name"].lower() for p in operation.get("parameters", []) if p.get("in") == "header"}
    errors = {
        "422": _problem("invalid input: the request does not match the schema (errors[]) or a rule"),
        "429": _problem("too many requests (rate limits per address and per token)", RETRY_AFTER),
        "503": _problem("not available now (the database or the read models); nothing was changed", RETRY_AFTER),
    }
    if "requestBody" in operation or method in WRITES:
        errors["413"] = _problem("the request body (or the event it would record) is too large")
    if "requestBody" in operation:
        errors["400"] = _problem("the body is not well-formed JSON")
        errors["415"] = _problem("the body is not application/json")
    if operation.get("security"):
        errors["401"] = _problem("no valid bearer token", CHALLENGE)
        errors["403"] = _problem("the token's role or organisation may not do this")
    if "{" in path or operation.get("security"):
        errors["404"] = _problem("no such resource visible to the caller")
    if method in WRITES:
        errors["409"] = _problem("conflicts with the resource's state or a concurrent change")
        errors["410"] = _problem("the data subject was erased")
    if "if-match" in headers:
        errors["412"] = _problem("the resource is not at the version named in If-Match")
    return errors


def _retried_creation(operation: dict[str, Any], responses: dict[str, Any]) -> None:
    """A creation that takes an Idempotency-Key answers a retry 200 with what the first request
    created (201): both are documented, with the same schema, so a generated client parses either."""
    headers = {p["name"].lower(): p for p in operation.get("parameters", []) if p.get("in") == "header"}
    key = headers.get("idempotency-key")
    if key is None or "201" not in responses:
        return
    key.setdefault("description", "makes a retry safe: the same key (within its scope) answers 200 with what "
                                  "the first request created, and records nothing again")
    if "200" not in responses:
        responses["200"] = {**responses["201"], "description": "a retry with the same Idempotency-Key: the "
                                                               "resource the first request created"}


def document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            _retried_creation(operation, responses)
            for status, response in _errors(path, method, operation).items():
                if status == "422" or status not in responses:
                    responses[status] = response
            operation["responses"] = dict(sorted(responses.items()))
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it
