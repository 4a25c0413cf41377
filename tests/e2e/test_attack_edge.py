"""Attack (h-attack): the pure-ASGI edge as a penetration tester probes it on a running service:
the security headers on every error path (401, 404, 405, 413, 415, 400, 422, 429), and the
request metrics' cardinality under made-up paths and methods."""

from __future__ import annotations

import re

import httpx

from libs.platform.web.auth import mint_token
from tests.harness import JWT_SECRET, TLS


def _secured(r: httpx.Response) -> None:
    h = r.headers
    assert h.get("x-content-type-options") == "nosniff" and h.get("x-frame-options") == "DENY", (r.status_code, h)
    assert h.get("referrer-policy") == "no-referrer" and "default-src 'none'" in h.get("content-security-policy", "")
    assert h.get("cache-control") == "no-store" and "server" not in h, (r.status_code, h)
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), (r.status_code, r.text[:200])


def _series(text: str) -> set[str]:
    return {line.split(" ")[0] for line in text.splitlines()
            if line.startswith("tsunagu_http_requests_total{")}


def test_every_error_path_carries_the_headers_and_made_up_requests_make_no_new_series(nats_server, start_service):
    intake = start_service("intake", nats_server.url, rate_auth_failures=5)
    good = "Bearer " + mint_token(JWT_SECRET, sub="s", org="o", roles=["centre_staff"])
    with httpx.Client(base_url=intake.url, timeout=30, verify=TLS) as c:
        def probe() -> list[int]:
            answers = [
                c.get("/v1/cases"),  # 401, no token
                c.get("/nope/" + "x" * 50),
                c.get("/v1/cases/%00/../../etc/passwd"),
                c.request("PROPFIND", "/v1/cases", headers={"Authorization": good}),
                c.request("get", "/v1/cases", headers={"Authorization": good}),
                c.request("BREW", "/whatever", headers={"Authorization": good}),
                c.delete("/v1/consultation-imports", headers={"Authorization": good}),
                c.post("/v1/consultation-imports", content=b"x" * (1024 * 1024 + 1),
                       headers={"Authorization": good, "content-type": "application/json"}),
                c.post("/v1/consultation-imports", content=b"a=b",
                       headers={"Authorization": good, "content-type": "application/x-www-form-urlencoded"}),
                c.post("/v1/consultation-imports", content=b"{", headers={"Authorization": good,
                                                                           "content-type": "application/json"}),
                c.post("/v1/consultation-imports", json={}, headers={"Authorization": good}),
            ]
            for r in answers:
                _secured(r)
                assert 400 <= r.status_code < 500, (r.request.method, r.request.url, r.status_code, r.text[:200])
            return [r.status_code for r in answers]

        probe()
        with intake.operator() as op:
            before = _series(op.get("/metrics").text)
        # Made-up paths and methods, many of them.
        for n in range(30):
            c.request(f"X{n}", f"/made/up/{n}")
            c.get(f"/v1/cases/{n}/nothing/{n}")
            c.request("PURGE", f"/v1/cases/{n}")
        probe()
        # Failed authentications until the limit: the 429 carries the headers and Retry-After.
        refused = [c.get("/v1/cases", headers={"Authorization": "Bearer " + "e30." * 10}) for _ in range(8)]
        for r in refused:
            _secured(r)
        assert refused[-1].status_code == 429 and int(refused[-1].headers["retry-after"]) >= 1
        with intake.operator() as op:
            after = _series(op.get("/metrics").text)
        new = after - before
        assert not any(re.search(r'route="/(made|nope|whatever)', s) or re.search(r'method="(X\d+|PURGE|get|BREW)', s)
                       for s in after), sorted(after)
        assert len(new) <= 2, sorted(new)  # at most the 429/401 of the failed authentications
