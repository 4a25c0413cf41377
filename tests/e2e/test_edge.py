"""The web edge of a running service (issue 14): security headers and no-store, no server banner,
docs only where enabled, /readyz details for operators only, rate limits (429 + Retry-After),
bounded parameters, and every error a problem+json without internals."""

from __future__ import annotations

import math
import time

import httpx
import jwt
import pytest

from libs.platform.web.auth import mint_token
from tests.harness import JWT_SECRET, TLS, eventually

PROBLEM = "application/problem+json"
DECODER_WORDS = ("codec", "decode", "padding", "Traceback", "Exception", "utf-8", "segments", "byte", "JSON")


def _token(role: str, org: str = "130001", sub: str = "tester") -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(JWT_SECRET, sub=sub, org=org, roles=[role])}


def test_every_response_carries_the_security_headers_and_no_server_banner(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    with intake.client() as anyone:
        answers = {
            "401": anyone.get("/v1/cases/00000000-0000-0000-0000-000000000000"),
            "200 json": anyone.get("/healthz"),
            "404": anyone.get("/no/such/path"),
            "422": anyone.get("/v1/audit/events", params={"after": "x"}),
            "public": anyone.get("/public/v1/centres"),
            "docs": anyone.get("/docs"),
        }
    for what, r in answers.items():
        assert r.headers["x-content-type-options"] == "nosniff", what
        assert r.headers["x-frame-options"] == "DENY", what
        assert r.headers["referrer-policy"] == "no-referrer", what
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], what
        assert "server" not in r.headers, (what, r.headers.get("server"))
    for what in ("401", "200 json", "404", "422"):
        assert answers[what].headers["cache-control"] == "no-store", what
        assert answers[what].headers["content-security-policy"].startswith("default-src 'none'"), what
    assert answers["public"].headers["cache-control"] != "no-store", "the public directory may be cached"
    # Swagger UI works under its CSP: its CDN, and its one inline script by hash, nothing else inline.
    docs = answers["docs"]
    csp = docs.headers["content-security-policy"]
    assert docs.status_code == 200 and "https://cdn.jsdelivr.net" in csp and "'sha256-" in csp
    assert "script-src 'unsafe-inline'" not in csp and "unsafe-eval" not in csp


def test_docs_and_the_openapi_document_are_off_unless_enabled(nats_server, start_service):
    """Production turns them off (Settings.from_env: TSUNAGU_ENV=production without TSUNAGU_DOCS)."""
    intake = start_service("intake", nats_server.url, docs_enabled=False)
    with intake.client() as anyone:
        for path in ("/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect"):
            r = anyone.get(path)
            assert r.status_code == 404 and r.headers["content-type"] == PROBLEM, path
        assert anyone.get("/healthz").status_code == 200


def test_readiness_shows_its_checks_to_an_operator_only_and_the_verdict_to_anyone(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    with intake.client() as anyone, intake.operator() as operator:
        eventually(lambda: anyone.get("/readyz").status_code == 200)
        assert anyone.get("/readyz").json() == {"status": "ready"}
        for headers in (_token("ministry", "mhlw"), {"Authorization": "Bearer garbage"}):
            assert anyone.get("/readyz", headers=headers).json() == {"status": "ready"}
        full = operator.get("/readyz").json()
        assert full["status"] == "ready" and "loops" in full["checks"] and full["checks"]["nats"] == "ok"

        nats_server.stop()
        r = eventually(lambda: (r := anyone.get("/readyz")).status_code == 503 and r)
        assert r.headers["content-type"] == PROBLEM
        assert set(r.json()) == {"type", "title", "status"}, "no detail, no checks for a probe"
        detailed = operator.get("/readyz")
        assert detailed.status_code == 503 and detailed.json()["checks"]["nats"] == "unreachable"
        assert "NATS unreachable" in detailed.json()["detail"]
        nats_server.start()
        eventually(lambda: anyone.get("/readyz").status_code == 200, timeout=30)


def test_300_bad_token_requests_are_throttled_and_a_valid_caller_is_not(nats_server, start_service):
    limit = 20  # failed authentications per minute per client address
    intake = start_service("intake", nats_server.url, rate_auth_failures=limit)
    statuses = []
    started = time.monotonic()
    with intake.client() as attacker:
        for i in range(300):
            r = attacker.get("/v1/rights-requests", headers={"Authorization": f"Bearer forged-{i}"})
            statuses.append(r.status_code)
            assert r.headers["content-type"] == PROBLEM
            if r.status_code == 429:
                assert r.json()["type"].endswith("/too-many-requests")
                assert 1 <= int(r.headers["retry-after"]) <= 60
    elapsed = time.monotonic() - started
    # The bucket refills `limit` a minute: however slow this machine was, no more got through.
    let_through = statuses.count(401)
    assert let_through <= limit + math.ceil(elapsed * limit / 60) + 1, (let_through, elapsed)
    assert statuses.count(429) == 300 - let_through and statuses[:limit] == [401] * limit
    with intake.client(role="centre_staff", org="x") as staff:  # a valid token is not a failure
        assert staff.get("/v1/rights-requests").status_code == 200


def test_each_principal_and_each_client_address_has_its_own_limit(nats_server, start_service):
    intake = start_service("intake", nats_server.url, rate_per_principal=5)
    with intake.client(role="centre_staff", org="x", sub="busy") as busy, \
            intake.client(role="centre_staff", org="x", sub="calm") as calm:
        statuses = [busy.get("/v1/rights-requests").status_code for _ in range(12)]
        assert statuses[:5] == [200] * 5 and statuses.count(429) >= 12 - 5 - 1
        assert calm.get("/v1/rights-requests").status_code == 200, "another principal is not throttled"
        r = busy.get("/v1/rights-requests")
        assert r.status_code == 429 and "principal" in r.json()["detail"] and r.headers["retry-after"]
    intake.stop()
    intake.settings = intake.settings.__class__(**{**intake.settings.__dict__, "rate_per_principal": 0,
                                                    "rate_per_address": 8})
    intake.start()
    with intake.client() as anonymous:
        statuses = [anonymous.get("/public/v1/centres").status_code for _ in range(15)]
        assert statuses[:8] == [200] * 8 and 429 in statuses
        assert anonymous.get("/public/v1/centres").json()["title"] == "Too many requests"


@pytest.mark.parametrize("service_name", ["intake", "reporting"])
def test_integers_beyond_any_position_are_refused_with_422_not_500(nats_server, start_service, service_name):
    service = start_service(service_name, nats_server.url)
    huge = "9223372036854775808"  # 2^63: SQLite's OverflowError, a 500 before
    requests = [("POST", f"/v1/ops/dead-letters/reporting-intake/INTAKE/{huge}/resolution", {}, "operator")]
    if service_name == "intake":
        requests += [("GET", "/v1/audit/events", {"after": huge}, "auditor"),
                     ("GET", "/v1/audit/records", {"after": huge}, "auditor"),
                     ("GET", "/v1/audit/proofs/inclusion", {"sequence": huge, "tree_size": huge}, "auditor"),
                     ("GET", "/v1/audit/proofs/consistency", {"from": 1, "to": huge}, "auditor"),
                     ("GET", "/v1/centres/00000000-0000-0000-0000-000000000000/workload", {"fy": huge}, "centre_staff")]
    with service.client() as anyone:
        for method, path, params, role in requests:
            r = anyone.request(method, path, params=params, headers=_token(role))
            assert r.status_code == 422, (path, r.status_code, r.text)
            assert r.headers["content-type"] == PROBLEM and r.json()["type"].endswith("/invalid-input")


GARBAGE_TOKENS = [b"not-a-jwt", b"\xff\xfe.\xfd.x", b"eyJ!!!.e30.e30", b"e30.e30.e30", b"a.b.c.d.e",
                  b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.bm90IGpzb24.c2ln", b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.",
                  b"eyJhbGciOiJIUzI1NiJ9.\xc3\x28.e30", b"x" * 9000]


def _signed(**claims) -> dict[str, str]:
    now = int(time.time())
    body = {"sub": "a", "org": "130001", "roles": ["centre_staff"], "iss": "tsunagu-dev", "iat": now,
            "exp": now + 600, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return {"Authorization": "Bearer " + jwt.encode(body, JWT_SECRET, algorithm="HS256")}


def test_every_error_is_a_problem_without_internals(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    with httpx.Client(base_url=intake.url, timeout=30, verify=TLS) as raw:
        answers = [raw.get("/v1/rights-requests", headers={"Authorization": b"Bearer " + t}) for t in GARBAGE_TOKENS]
        answers += [raw.get("/v1/rights-requests", headers={"Authorization": "Basic eDp5"}),
                    raw.delete("/healthz"), raw.get("/v1/nothing-here"),
                    raw.post("/v1/cases", content=b"{not json", headers={**_token("centre_staff"),
                                                                          "Content-Type": "application/json"}),
                    raw.get("/v1/rights-requests", headers=_signed(roles=["king"])),
                    raw.get("/v1/rights-requests", headers=_signed(roles=["auditor", "supporter"])),
                    raw.get("/v1/rights-requests", headers=_signed(exp=253402300799)),
                    raw.get("/v1/rights-requests", headers=_signed(iat=None))]
    for r in answers:
        assert r.status_code in (400, 401, 403, 404, 405, 422), (r.status_code, r.text)
        assert r.headers["content-type"] == PROBLEM, r.text
        body = r.json()
        assert {"type", "title", "status"} <= set(body)
        # The body says what is wrong with the request, never how the decoder failed (a garbage
        # token's error quoted "'utf-8' codec can't decode byte …" before); invalid JSON is
        # named as such ("JSON decode error" is pydantic's words for the client's mistake).
        words = DECODER_WORDS if r.status_code in (401, 403) else ("codec", "Traceback", "Exception", "utf-8")
        for word in words:
            assert word not in r.text, (word, r.text)


def test_an_issuer_that_hangs_holds_only_the_requests_that_wait_for_its_keys(nats_server, start_service):
    """JWKS mode with a rate limit per principal: the edge reads the token before the route does,
    and the issuer's key set is fetched then. A fetch that hangs must not stop the event loop:
    /healthz and everyone else go on answering while one request waits for the issuer."""
    import socket
    import threading
    import uuid

    from cryptography.hazmat.primitives.asymmetric import rsa

    hanging = socket.socket()  # accepts connections (its backlog) and never answers
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)
    intake = start_service("intake", nats_server.url, jwks_url=f"http://127.0.0.1:{hanging.getsockname()[1]}/jwks",
                           jwt_issuer="https://idp.example", jwt_audience="tsunagu", rate_per_principal=1000)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    token = jwt.encode({"sub": "a", "org": "131016", "roles": ["municipal_officer"], "iss": "https://idp.example",
                        "aud": "tsunagu", "iat": now, "exp": now + 60}, key, algorithm="RS256", headers={"kid": "k1"})
    answers: list[httpx.Response] = []
    try:
        with intake.client() as anyone:
            waiting = threading.Thread(target=lambda: answers.append(anyone.get(
                f"/v1/centres/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})))
            waiting.start()
            time.sleep(0.5)  # that request is now waiting for the issuer
            started = time.monotonic()
            assert anyone.get("/healthz").status_code == 200
            assert time.monotonic() - started < 1.0, "the event loop waited for the issuer"
            waiting.join(timeout=30)
        # Not 401: the token may be good, the issuer is what failed (a client told 401 would throw
        # its token away and ask the issuer for another, adding to its load).
        assert answers and answers[0].status_code == 503, answers
        assert answers[0].headers["content-type"] == PROBLEM
        assert answers[0].json()["type"].endswith("/issuer-unavailable")
    finally:
        hanging.close()


def test_portal_and_integrator_tokens_are_refused_by_every_service_as_no_role_of_the_apis(nats_server, start_service):
    """One access model (issue 14): SECURITY.md said both roles held no grant; now every service
    refuses them, saying why, before any route runs."""
    now = int(time.time())
    paths = {"intake": "/v1/cases/00000000-0000-0000-0000-000000000000", "registry": "/v1/supporters",
             "dispatch": "/v1/dispatches", "reporting": "/v1/reports/consultations?fy=2016"}
    for name, path in paths.items():
        service = start_service(name, nats_server.url)
        for role in ("portal", "integrator"):
            token = jwt.encode({"sub": "p", "org": "130001", "roles": [role], "iss": "tsunagu-dev", "iat": now,
                                "exp": now + 600}, JWT_SECRET, algorithm="HS256")
            with service.client() as anyone:
                r = anyone.get(path, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM), (name, role, r.text)
            assert r.json()["unknown_roles"] == [role], (name, r.text)
        service.stop()
