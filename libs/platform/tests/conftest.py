"""Shared fixtures of the platform's tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import event

from services.intake.application import IntakeApplication
from tests.harness import stored_applications

ISSUER = "https://idp.example"


@pytest.fixture
def rotating_issuer() -> Iterator[tuple[dict[str, Any], str, dict[str, list[str]]]]:
    """A JWKS endpoint whose published keys the test changes (rotation: a new key, the old one withdrawn)."""
    keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}
    state = {"published": ["k1"]}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"keys": [
                {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys[kid].public_key())), "kid": kid, "use": "sig",
                 "alg": "RS256"} for kid in state["published"]]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield keys, f"http://127.0.0.1:{server.server_address[1]}/jwks.json", state
    server.shutdown()


def rs256_tokens(keys: dict[str, Any], **overrides: Any) -> Callable[..., str]:
    """A maker of Authorization headers for tokens of `keys` (by kid) that the rotating issuer
    publishes, with a subject of the ministry; claims can be changed per token."""
    now = int(time.time())
    claims = {"sub": "u1", "org": "130001", "roles": ["ministry"], "aud": "tsunagu", "iss": ISSUER,
              "iat": now, "exp": now + 600, **overrides}

    def token(kid: str = "k1", **changes: Any) -> str:
        return "Bearer " + jwt.encode({**claims, **changes}, keys[kid], algorithm="RS256", headers={"kid": kid})

    return token


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[Any, Any, list[str]]]:
    """Two replicas of intake on one database, and the statements the first one's event store ran
    (test_aggregate_cache, test_trusted_loads)."""
    with stored_applications(tmp_path, "intake", IntakeApplication) as (_engine, application):
        first, second = application(), application()
        statements: list[str] = []
        event.listen(first.recorder.datastore.engine, "before_cursor_execute",
                     lambda _c, _cur, sql, *_: statements.append(sql))
        yield first, second, statements
