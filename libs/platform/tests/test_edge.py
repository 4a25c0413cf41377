"""The pieces of the web edge without a service: token buckets, hashed CSPs, headers on a crash."""

from __future__ import annotations

import base64
import hashlib

from fastapi import FastAPI, Response
from fastapi.testclient import TestClient
from starlette.middleware.base import BaseHTTPMiddleware

from libs.platform.settings import Settings
from libs.platform.web.edge import TokenBuckets, html_page, install_edge
from libs.platform.web.metrics import LoopCollector, install_metrics
from libs.platform.web.problems import install_problem_handlers


def test_a_bucket_allows_its_burst_then_refills_evenly_and_forgets_the_least_recent_key():
    buckets = TokenBuckets(60, max_keys=2)  # one a second, 60 at once
    assert [buckets.take("a", now=0.0) for _ in range(60)] == [0.0] * 60
    assert buckets.take("a", now=0.0) == 1.0  # empty: one second until the next
    assert buckets.take("a", now=0.5) == 0.5
    assert buckets.take("a", now=1.0) == 0.0
    assert buckets.take("b", now=1.0) == 0.0, "another key has its own bucket"
    buckets.take("c", now=1.0)  # a third key: "a" (least recently used) is forgotten, i.e. full again
    assert buckets.take("a", now=1.0) == 0.0


def test_an_html_page_allows_its_own_inline_code_by_hash_and_nothing_else():
    page = html_page("<html><style>b{}</style><script src=x></script><script>go()</script></html>")
    csp = page.headers["content-security-policy"]
    digest = base64.b64encode(hashlib.sha256(b"go()").digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "unsafe" not in csp
    assert f"style-src 'sha256-{base64.b64encode(hashlib.sha256(b'b{}').digest()).decode()}'" in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_an_unexpected_error_is_a_bare_problem_with_the_security_headers():
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /var/lib/tsunagu")

    install_edge(app, Settings(service="intake", port=0, database_url="sqlite://", db_schema=None,
                               nats_url="nats://127.0.0.1:1", jwt_secret="x", jwks_url=None,
                               master_key_hex="00" * 32, rate_per_address=0))
    r = TestClient(app, raise_server_exceptions=False).get("/v1/boom")
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert r.json() == {"type": "https://tsunagu.jp/problems/internal", "title": "Internal error", "status": 500}
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"


def _settings(rate_per_address: int = 0, rate_per_principal: int = 0, rate_auth_failures: int = 0) -> Settings:
    return Settings(service="intake", port=0, database_url="sqlite://", db_schema=None, nats_url="nats://127.0.0.1:1",
                    jwt_secret="x", jwks_url=None, master_key_hex="00" * 32, rate_per_address=rate_per_address,
                    rate_per_principal=rate_per_principal, rate_auth_failures=rate_auth_failures)


def _secured(r) -> bool:
    return (r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
            and r.headers["referrer-policy"] == "no-referrer" and r.headers["cache-control"] == "no-store"
            and r.headers["content-security-policy"].startswith("default-src 'none'"))


def test_a_refused_body_and_a_rate_limited_request_are_problems_with_the_security_headers():
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/v1/items")
    def add(body: dict) -> dict:
        return body

    install_edge(app, _settings(rate_per_address=2, rate_per_principal=0, rate_auth_failures=0))
    client = TestClient(app)
    too_large = client.post("/v1/items", content=b"x" * (2 * 1024 * 1024), headers={"content-type": "application/json"})
    assert too_large.status_code == 413 and too_large.headers["content-type"] == "application/problem+json"
    assert _secured(too_large)
    assert client.post("/v1/items", json={"a": 1}).status_code == 200
    limited = client.post("/v1/items", json={"a": 1})
    assert limited.status_code == 429 and limited.headers["content-type"] == "application/problem+json"
    assert int(limited.headers["retry-after"]) >= 1 and _secured(limited)


def test_a_route_may_keep_its_own_cache_control_and_csp_but_not_weaker_security_headers():
    app = FastAPI()

    @app.get("/v1/page")
    def page() -> Response:
        return Response("ok", headers={"Cache-Control": "max-age=60", "Content-Security-Policy": "default-src 'self'",
                                       "X-Frame-Options": "SAMEORIGIN"})

    install_edge(app, _settings(rate_per_address=0))
    r = TestClient(app).get("/v1/page")
    assert r.headers["cache-control"] == "max-age=60"
    assert r.headers["content-security-policy"] == "default-src 'self'"
    assert r.headers.get_list("x-frame-options") == ["DENY"]


def test_requests_are_counted_by_route_template_and_a_made_up_method_makes_no_series_of_its_own():
    app = FastAPI()
    install_problem_handlers(app)
    collector = LoopCollector("intake", lambda: [], lambda: 0, lambda _: False)
    metrics = install_metrics(app, "intake", collector)

    @app.get("/v1/items/{item_id}")
    def item(item_id: int) -> dict:
        return {"id": item_id}

    install_edge(app, _settings(rate_per_address=0), metrics)
    client = TestClient(app)
    for i in range(3):
        assert client.get(f"/v1/items/{i}").status_code == 200
    assert client.request("BREW", "/v1/items/1").status_code == 405
    page = client.get("/metrics").text
    assert 'tsunagu_http_requests_total{method="GET",route="/v1/items/{item_id}",service="intake",status="200"} 3.0' \
        in page
    assert 'method="OTHER"' in page and "BREW" not in page
    latency = 'tsunagu_http_request_duration_seconds_count{method="GET",route="/v1/items/{item_id}",service="intake"}'
    assert f"{latency} 3.0" in page


def test_every_service_app_answers_through_pure_asgi_middleware_only():
    """Starlette's BaseHTTPMiddleware (`@app.middleware("http")`) runs each request in a task group
    of its own with memory streams between the halves: a cost per request the edge does not pay."""
    from services.dispatch.bootstrap import create_app as dispatch
    from services.intake.bootstrap import create_app as intake
    from services.registry.bootstrap import create_app as registry
    from services.reporting.bootstrap import create_app as reporting

    for create in (intake, registry, dispatch, reporting):
        app = create(_settings(rate_per_address=0))
        assert app.user_middleware, "the edge is installed"
        for middleware in app.user_middleware:
            assert not issubclass(middleware.cls, BaseHTTPMiddleware), middleware  # type: ignore[arg-type]
