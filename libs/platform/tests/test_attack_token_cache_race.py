"""Attack (h-attack): the verified-token cache against a key rotation that lands while a token is
being verified. Authenticator.principal reads `keys_until = self._jwks.fresh_until()` after
_verify: when another request (a token with the new kid) fetched the rotated key set in between,
the token just checked with the withdrawn key is cached as fresh as the *new* set, and _same_keys
then agrees with it: the withdrawn key's token is recalled for the whole new lifespan, while a
full check refuses it at once. Fix: read fresh_until() before _verify (a fetch during the check
then leaves the entry older than the set in use, so it is checked again)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from libs.platform.web.auth import Authenticator, Unauthenticated


def test_a_rotation_during_a_check_does_not_cache_the_withdrawn_keys_token_as_fresh() -> None:
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

    now = int(time.time())
    claims = {"sub": "u1", "org": "130001", "roles": ["ministry"], "aud": "tsunagu",
              "iss": "https://idp.example", "iat": now, "exp": now + 600}

    def token(kid: str) -> str:
        return "Bearer " + jwt.encode(claims, keys[kid], algorithm="RS256", headers={"kid": kid})

    class Interleaved(Authenticator):
        """Another request, with a token of the new key, runs to its end while this one's check of
        a k1 token is between its signature check and its caching (as two threadpool threads can)."""

        raced = False

        def _decode(self, token_: str) -> tuple[dict, float]:
            claims_ = super()._decode(token_)
            if not self.raced:
                self.raced = True
                served["kids"] = ["k2"]  # the rotation: k1 withdrawn
                other = threading.Thread(target=lambda: self.principal(token("k2")))
                other.start()
                other.join()
            return claims_

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        auth = Interleaved(secret="dev-secret-" + "x" * 30, jwks_url=f"http://127.0.0.1:{server.server_address[1]}/",
                           audience="tsunagu", issuer="https://idp.example", jwks_cache_seconds=3600,
                           jwks_refresh_seconds=0)
        old = token("k1")
        auth.principal(old)  # checked while k1 was published (the request was already in flight)
        with pytest.raises(Unauthenticated):
            auth.principal(old)  # the cache must refuse it as a full check does (below)
        fresh = Authenticator(secret="dev-secret-" + "x" * 30, jwks_url=f"http://127.0.0.1:{server.server_address[1]}/",
                              audience="tsunagu", issuer="https://idp.example")
        with pytest.raises(Unauthenticated):
            fresh.principal(old)
    finally:
        server.shutdown()


def test_right_after_a_valid_token_is_cached_its_variants_are_each_refused() -> None:
    """Held: an expired token, the cached token with one signature byte changed (in the middle,
    where base64 has no spare bits), a token of another audience or issuer, each refused even
    though a token of the same subject was just recalled from the cache."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = json.dumps({"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1",
                                 "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
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
                             audience="tsunagu", issuer="https://idp.example")
        now = int(time.time())
        claims = {"sub": "u1", "org": "130001", "roles": ["ministry"], "aud": "tsunagu",
                  "iss": "https://idp.example", "iat": now, "exp": now + 600}

        def token(**changes) -> str:
            return "Bearer " + jwt.encode({**claims, **changes}, key, algorithm="RS256", headers={"kid": "k1"})

        good = token()
        assert auth.principal(good) is auth.principal(good)
        middle = len(good) - 100
        flipped = good[:middle] + ("A" if good[middle] != "A" else "B") + good[middle + 1:]
        for bad in (token(iat=now - 700, exp=now - 100), flipped, token(aud="another-app"),
                    token(iss="https://evil.example"), good + "A", good.lower()):
            with pytest.raises(Unauthenticated):
                auth.principal(bad)
            assert auth.principal(good).sub == "u1"
    finally:
        server.shutdown()
