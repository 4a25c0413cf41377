"""OpenAPI that generated clients can trust (issue 18): the bearer scheme instead of an optional
`authorization` header parameter, every error status as application/problem+json with one Problem
schema (no FastAPI HTTPValidationError, which the services never send), and the HTTP semantics a
client relies on: 400 for malformed JSON, 415 for a body that is not JSON, Allow on 405 and
WWW-Authenticate on 401."""

from __future__ import annotations

import pytest

from libs.platform.tools.openapi import SERVICES, openapi_of
from tests.harness import eventually

METHODS = {"get", "post", "put", "patch", "delete"}
CASE = "/v1/cases/6f1c2a34-0000-4000-8000-00000000000a"


@pytest.fixture(scope="module")
def documents() -> dict[str, dict]:
    return {s: openapi_of(s) for s in SERVICES}


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_every_secured_operation_names_the_bearer_scheme_and_no_operation_takes_an_authorization_header(documents):
    for service, document in documents.items():
        assert document["components"]["securitySchemes"]["bearer"] == {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A JWT with the claims sub, org, roles, iat and exp (README: Tokens)"}
        secured = 0
        for path, method, operation in _operations(document):
            names = [p["name"].lower() for p in operation.get("parameters", [])]
            assert "authorization" not in names, (service, method, path)
            secured += bool(operation.get("security"))
        assert secured > 0, service


def test_every_error_an_operation_can_answer_is_a_documented_problem(documents):
    for service, document in documents.items():
        schemas = document["components"]["schemas"]
        assert "HTTPValidationError" not in schemas and "Problem" in schemas, service
        for path, method, operation in _operations(document):
            responses = operation["responses"]
            expected = {"422", "429", "503"} | ({"401", "403"} if operation.get("security") else set()) \
                | ({"400", "413", "415"} if "requestBody" in operation else set())
            assert expected <= set(responses), (service, method, path, sorted(responses))
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in response["content"], (service, method, path, status)
            if operation.get("security"):
                assert "WWW-Authenticate" in responses["401"]["headers"]


def test_malformed_json_is_400_a_body_that_is_not_json_is_415_and_405_says_allow(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    with intake.client(role="prefecture_officer", org="130001") as officer:
        r = officer.post("/v1/centres", content=b'{"name": "x",', headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["type"].endswith("/malformed-json"), r.text
        r = officer.post("/v1/centres", content=b"name=x", headers={"content-type": "text/plain"})
        assert r.status_code == 415 and r.json()["type"].endswith("/unsupported-media-type"), r.text
        r = officer.post("/v1/centres", json={"name": ""})  # JSON, but not the schema: still 422
        assert r.status_code == 422 and r.json()["errors"], r.text
        r = officer.delete("/v1/centres")
        assert r.status_code == 405 and "POST" in r.headers["allow"], (r.status_code, dict(r.headers))
        assert r.headers["content-type"] == "application/problem+json"


def test_401_carries_a_bearer_challenge(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    with intake.client() as anonymous:
        r = eventually(lambda: (r := anonymous.get(CASE)).status_code == 401 and r)
        assert r.headers["www-authenticate"] == 'Bearer realm="tsunagu"'
        r = anonymous.get(CASE, headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="tsunagu", error="invalid_token"'


def test_a_creation_that_takes_an_idempotency_key_documents_the_retrys_200_as_well(documents):
    keyed = 0
    for service, document in documents.items():
        for path, method, operation in _operations(document):
            headers = {p["name"].lower() for p in operation.get("parameters", []) if p.get("in") == "header"}
            if "idempotency-key" in headers and "201" in operation["responses"]:
                keyed += 1
                assert operation["responses"]["200"]["content"] == operation["responses"]["201"]["content"], \
                    (service, method, path)
    assert keyed >= 15


def test_a_405_allows_exactly_the_methods_the_document_lists_for_the_path():
    """Allow names every documented method of the path (Starlette answered with the methods of the
    first route that matched the path: `Allow: GET` on a path that also takes POST; schemathesis's
    coverage phase found 5 such paths in intake)."""
    import importlib

    import yaml
    from fastapi.testclient import TestClient

    from libs.platform.tools.openapi import OPENAPI_DIR, SERVICES, _offline_settings

    checked = 0
    for service in SERVICES:
        app = importlib.import_module(f"services.{service}.bootstrap").create_app(_offline_settings(service))
        document = yaml.safe_load((OPENAPI_DIR / f"{service}.yaml").read_text())
        client = TestClient(app)  # routing answers a 405 before anything the lifespan builds
        for path, operations in document["paths"].items():
            documented = {m.upper() for m in operations if m in {"get", "put", "post", "delete", "patch"}}
            unused = next(m for m in ("PATCH", "DELETE", "PUT", "POST") if m not in documented)
            concrete = "/".join("00000000-0000-4000-8000-000000000000" if s.startswith("{") else s
                                for s in path.split("/"))  # any value will do for routing
            r = client.request(unused, concrete)
            assert r.status_code == 405, (service, unused, path, r.status_code)
            assert set(r.headers["allow"].split(", ")) == documented, (service, path, r.headers["allow"])
            checked += 1
    assert checked > 100
