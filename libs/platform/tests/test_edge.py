"""The pieces of the web edge without a service: token buckets, hashed CSPs, headers on a crash."""

from __future__ import annotations

import base64
import hashlib

from fastapi import FastAPI
from fastapi.testclient import TestClient

from libs.platform.settings import Settings
from libs.platform.web.edge import TokenBuckets, html_page, install_edge
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
