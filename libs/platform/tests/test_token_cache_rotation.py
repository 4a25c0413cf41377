"""The verified-token cache (web/auth.py) and a key the issuer withdrew."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from libs.platform.web.auth import Authenticator, Unauthenticated


def test_a_token_of_a_withdrawn_key_is_refused_once_the_new_key_set_is_fetched() -> None:
    """The issuer rotates k1 -> k2 (k1 withdrawn, e.g. compromised). A token with kid k2 makes the
    client fetch the new set; from then on a fresh check refuses a k1 token (no such key). The
    verified-token cache still answers the k1 token it verified before, until the old set's
    lifespan ends (keys_until was fixed when it was verified)."""
    keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in ("k1", "k2")}
    served = {"kids": ["k1"]}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"keys": [
                {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys[k].public_key())), "kid": k, "use": "sig",
                 "alg": "RS256"} for k in served["kids"]]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        auth = Authenticator(secret="dev-secret-" + "x" * 30, jwks_url=f"http://127.0.0.1:{server.server_address[1]}/",
                             audience="tsunagu", issuer="https://idp.example", jwks_cache_seconds=3600,
                             jwks_refresh_seconds=0)
        now = int(time.time())
        claims = {"sub": "u1", "org": "130001", "roles": ["ministry"], "aud": "tsunagu",
                  "iss": "https://idp.example", "iat": now, "exp": now + 600}

        def token(kid: str) -> str:
            return "Bearer " + jwt.encode(claims, keys[kid], algorithm="RS256", headers={"kid": kid})

        old = token("k1")
        assert auth.principal(old).sub == "u1"  # verified, and cached
        served["kids"] = ["k2"]  # the rotation: k1 withdrawn
        assert auth.principal(token("k2")).sub == "u1"  # unknown kid: the new set is fetched
        with pytest.raises(Unauthenticated):
            auth._verify(old.split(" ", 1)[1])  # checked in full, the old token is refused now...
        with pytest.raises(Unauthenticated):
            auth.principal(old)  # ...and so must it be through the cache
    finally:
        server.shutdown()
