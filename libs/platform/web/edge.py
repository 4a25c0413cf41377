"""The web edge of every service (issue 14): what each response carries and who may call how often.

`install_edge(app, settings)` is called once by the service factory, after everything else, so
that its middleware is the outermost of ours:
- security headers on every response: `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
  `Referrer-Policy: no-referrer`, a Content-Security-Policy that lets a JSON answer load and run
  nothing (`default-src 'none'; frame-ancestors 'none'`; an HTML page brings its own, made by
  `html_page`), and `Cache-Control: no-store` (everything but the public directory can hold
  personal data or a tenant's figures);
- rate limits (429 problem+json with Retry-After): per client address on every request, per
  principal (org and sub of a valid token) on every authenticated one, and on failed
  authentications per client address, so that guessing tokens is throttled long before the
  address limit; token buckets in memory, per process (the ingress adds its own, README);
- /docs and /openapi.json only where `settings.docs_enabled` (dev and test; production with
  TSUNAGU_DOCS=1), /docs with a CSP naming its CDN and the hash of its one inline script; no /redoc;
- /readyz shows its checks to an `operator` token only (`readiness_for`).

The `server` banner is uvicorn's and is turned off where uvicorn starts (`UVICORN_OPTIONS`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.domain.errors import DomainError
from libs.platform.settings import Settings
from libs.platform.web.auth import IssuerUnavailable, remember_authentication
from libs.platform.web.metrics import HttpMetrics
from libs.platform.web.problems import problem

log = logging.getLogger(__name__)

# How uvicorn is started everywhere (launcher, Dockerfile, tests): no `server: uvicorn` banner.
UVICORN_OPTIONS: dict[str, Any] = {"server_header": False}
UVICORN_FLAGS = ("--no-server-header",)

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
# Paths whose answers hold nothing personal and may be cached (the public directory).
CACHEABLE_PREFIXES = ("/public/",)
# Swagger UI as FastAPI serves it: its bundle and stylesheet from this CDN, its favicon from there.
DOCS_SOURCES = {"script": ("https://cdn.jsdelivr.net",), "style": ("https://cdn.jsdelivr.net", "'unsafe-inline'"),
                "img": ("https://fastapi.tiangolo.com", "data:")}
DOCS_UI_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
# Buckets kept at most (least recently used forgotten first; a forgotten key starts full again):
# bounds memory; to reset its own bucket a client would have to bring 100,000 other keys first.
MAX_TRACKED_KEYS = 100_000


def html_page(html: str, *, scripts: tuple[str, ...] = (), styles: tuple[str, ...] = (),
              images: tuple[str, ...] = (), headers: dict[str, str] | None = None) -> HTMLResponse:
    """An HTML page with a CSP that allows its own inline <script> and <style> blocks by hash
    (nothing else inline), `scripts`/`styles`/`images` sources besides, and fetches to its origin."""
    inline = {kind: [f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
                     for body in re.findall(rf"<{kind}(?:\s[^>]*)?>(.*?)</{kind}>", html, re.S)
                     if body.strip()]
              for kind in ("script", "style")}
    csp = "; ".join([
        "default-src 'none'",
        " ".join(["script-src", *inline["script"], *scripts]) if inline["script"] or scripts else "script-src 'none'",
        " ".join(["style-src", *inline["style"], *styles]) if inline["style"] or styles else "style-src 'none'",
        " ".join(["img-src 'self'", *images]),
        "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
    ])
    return HTMLResponse(html, headers={**(headers or {}), "Content-Security-Policy": csp})


FORCED_HEADERS = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
_FORCED_NAMES = frozenset(name for name, _ in FORCED_HEADERS)
_CSP = (b"content-security-policy", API_CSP.encode())
_NO_STORE = (b"cache-control", b"no-store")


def with_security_headers(message: Message, *, cacheable: bool) -> None:
    """The security headers on a response's start message; a route's own CSP or Cache-Control stays."""
    raw = [(k, v) for k, v in message.get("headers") or () if k not in _FORCED_NAMES]
    names = {k for k, _ in raw}
    raw += FORCED_HEADERS
    if _CSP[0] not in names:
        raw.append(_CSP)
    if not cacheable and _NO_STORE[0] not in names:
        raw.append(_NO_STORE)
    message["headers"] = raw


class Edge:
    """The edge in one pure ASGI pass: rate limits, security headers on every response (a 429, a
    413, a 500 too), and the request's count and latency in /metrics. One layer rather than three
    (and not Starlette's BaseHTTPMiddleware, which ran every request in a task group of its own with
    memory streams between the two halves): each layer is a coroutine and a send wrapper per
    request, and the edge was a third of the event loop's time in issue 15's profile."""

    def __init__(self, app: ASGIApp, *, limits: RateLimits | None, metrics: HttpMetrics | None) -> None:
        self.app = app
        self.limits = limits
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(CACHEABLE_PREFIXES)
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                with_security_headers(message, cacheable=cacheable)
            await send(message)

        started = time.perf_counter()
        counted = self.metrics is not None
        try:
            if self.limits is not None and (refusal := await self.limits.refusal(scope)) is not None:
                counted = False  # not in /metrics: no route was reached
                await refusal(scope, receive, sending)
                return
            if b"%00" in scope["query_string"] or "\x00" in scope["path"]:
                # A parameter with U+0000 (NUL), which PostgreSQL's text refuses: every query naming
                # one was a 500 there (a cursor, a category, an audit subject, a note); as a body's
                # text is (inputs.refuse_nul), it is bad input wherever it is.
                counted = False
                await problem(422, "invalid-input", "Invalid input",
                              "a parameter may not contain U+0000 (NUL)")(scope, receive, sending)
                return
            await self.app(scope, receive, sending)
        except Exception:
            # What no handler answered (Starlette renders it outside every middleware, so without
            # these headers): the same 500 problem, logged here, with the headers.
            if status:
                raise
            log.exception("unexpected error")
            await problem(500, "internal", "Internal error")(scope, receive, sending)
        finally:
            if counted:
                self.metrics.observe(scope, status or 500, time.perf_counter() - started)  # type: ignore[union-attr]


class TokenBuckets:
    """Per key, `per_minute` requests a minute, refilled evenly, and at most `per_minute` at once."""

    def __init__(self, per_minute: int, *, max_keys: int = MAX_TRACKED_KEYS) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Take one request from `key`'s bucket: 0 when allowed, else the seconds until one is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return 0.0 if allowed else (1 - tokens) / self.rate


class RateLimits:
    """429 problem+json with Retry-After when the client address, the principal, or the address's
    failed authentications are over their limit (0 turns a limit off). The client address is the
    peer uvicorn reports: behind an ingress, uvicorn takes it from X-Forwarded-For only when the
    ingress is in FORWARDED_ALLOW_IPS (README, For operators)."""

    def __init__(self, *, fastapi_app: FastAPI, per_address: int, per_principal: int, auth_failures: int) -> None:
        self.fastapi_app = fastapi_app
        self.address = TokenBuckets(per_address) if per_address else None
        self.principal = TokenBuckets(per_principal) if per_principal else None
        self.failures = TokenBuckets(auth_failures) if auth_failures else None

    @classmethod
    def of(cls, app: FastAPI, settings: Settings) -> RateLimits | None:
        """The limits of `settings`, or None when every one is off."""
        if not (settings.rate_per_address or settings.rate_per_principal or settings.rate_auth_failures):
            return None
        return cls(fastapi_app=app, per_address=settings.rate_per_address,
                   per_principal=settings.rate_per_principal, auth_failures=settings.rate_auth_failures)

    async def refusal(self, scope: Scope) -> Response | None:
        """The 429 for this request, or None when it is within every limit."""
        if self._may_fetch_keys(scope):
            # The token's issuer keys may be fetched (JWKS mode): off the event loop, so that an
            # issuer that is slow or hangs holds this request only, not every other one.
            wait, what = await run_in_threadpool(self._wait, scope)
        else:
            wait, what = self._wait(scope)
        if not wait:
            return None
        seconds = max(1, math.ceil(wait))
        response = problem(429, "too-many-requests", "Too many requests",
                           f"over the limit of requests per {what}; retry after {seconds} s")
        response.headers["Retry-After"] = str(seconds)
        return response

    def _may_fetch_keys(self, scope: Scope) -> bool:
        authenticator = getattr(getattr(self.fastapi_app.state, "runtime", None), "authenticator", None)
        return bool(authenticator is not None and authenticator.fetches_keys and (self.principal or self.failures)
                    and _header(scope, b"authorization") is not None)

    def _wait(self, scope: Scope) -> tuple[float, str]:
        address = (scope.get("client") or ("unknown", 0))[0]
        if self.address and (wait := self.address.take(f"address:{address}")):
            return wait, "client address"
        authorization = _header(scope, b"authorization")
        authenticator = getattr(getattr(self.fastapi_app.state, "runtime", None), "authenticator", None)
        if authorization is None or authenticator is None or not (self.principal or self.failures):
            return 0.0, ""
        try:
            principal = authenticator.principal(authorization)
        except IssuerUnavailable as e:  # the issuer's fault, not the client's: not counted
            remember_authentication(scope, e)
            return 0.0, ""
        except DomainError as e:  # refused: the route answers 401/403 itself, until this limit
            remember_authentication(scope, e)
            if self.failures and (wait := self.failures.take(f"failures:{address}")):
                return wait, "client address with failed authentication"
            return 0.0, ""
        remember_authentication(scope, principal)
        if self.principal and (wait := self.principal.take(f"principal:{principal.org}/{principal.sub}")):
            return wait, "principal"
        return 0.0, ""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


def readiness_for(request: Request, answer: Response | dict) -> Response | dict:
    """/readyz as the caller may see it: all the checks for a token with the role `operator`; for
    anyone else (a Kubernetes probe has no token) only the verdict, with the same status:
    `{"status": "ready"}` or a 503 problem without detail."""
    runtime = getattr(request.app.state, "runtime", None)
    authorization = request.headers.get("authorization")
    if authorization and runtime is not None:
        try:
            if runtime.authenticator.principal(authorization).has("operator"):
                return answer
        except DomainError:
            pass
    if isinstance(answer, Response) and answer.status_code != 200:
        return problem(answer.status_code, "not-ready", "Service not ready")
    return {"status": "ready"}


def install_edge(app: FastAPI, settings: Settings, metrics: HttpMetrics | None = None) -> None:
    """Security headers, rate limits, the request metrics and the docs policy of `settings` on
    `app` (see above)."""
    gone = set(DOCS_UI_PATHS) | (set() if settings.docs_enabled else {app.openapi_url})
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in gone]
    app.docs_url = app.redoc_url = app.swagger_ui_oauth2_redirect_url = None
    if settings.docs_enabled:
        _mount_docs(app)
    else:
        app.openapi_url = None
    # Outermost of ours: the 429s, 413s and 500s carry the headers too.
    app.add_middleware(Edge, limits=RateLimits.of(app, settings), metrics=metrics)


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI as FastAPI serves it, with a CSP naming its CDN and its inline script's hash."""
    app.docs_url = "/docs"

    @app.get(app.docs_url, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(openapi_url=root + app.openapi_url, title=f"{app.title} - Swagger UI",
                                   swagger_ui_parameters=app.swagger_ui_parameters)
        return html_page(bytes(page.body).decode(), scripts=DOCS_SOURCES["script"], styles=DOCS_SOURCES["style"],
                         images=DOCS_SOURCES["img"])
