"""Dev tokens from the CLI, and tokens of an OIDC issuer checked against its JWKS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from libs.platform.auth import Authenticator, Unauthenticated, mint_token


def test_the_cli_prints_a_dev_token_signed_with_the_local_dev_key(tmp_path):
    env = {**os.environ, "TSUNAGU_VAR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "libs.platform.cli", "token", "--role", "centre_staff",
                          "--role", "auditor", "--org", "130001", "--sub", "alice"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    secret = (tmp_path / "dev-jwt.key").read_text().strip()
    principal = Authenticator(secret=secret).principal(f"Bearer {out}")
    assert (principal.sub, principal.org, principal.roles) == ("alice", "130001", {"centre_staff", "auditor"})


def test_the_cli_refuses_an_unknown_role(tmp_path):
    env = {**os.environ, "TSUNAGU_VAR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "libs.platform.cli", "token", "--role", "king", "--org", "1"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_expired_tampered_and_foreign_tokens_are_refused():
    auth = Authenticator(secret="s" * 40)
    with pytest.raises(Unauthenticated):
        auth.principal("Bearer " + mint_token("s" * 40, sub="a", org="1", roles=["auditor"], ttl_seconds=-10))
    with pytest.raises(Unauthenticated):
        auth.principal("Bearer " + mint_token("t" * 40, sub="a", org="1", roles=["auditor"]))
    good = mint_token("s" * 40, sub="a", org="1", roles=["auditor"])
    with pytest.raises(Unauthenticated):
        auth.principal("Bearer " + good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1])
    with pytest.raises(Unauthenticated):
        auth.principal(None)


@pytest.fixture
def jwks_issuer():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


def test_with_a_jwks_url_only_the_issuers_tokens_for_us_are_accepted(jwks_issuer):
    import time

    key, url = jwks_issuer
    auth = Authenticator(secret="dev-secret-" + "x" * 30, jwks_url=url, audience="tsunagu", issuer="https://idp.example")
    claims = {"sub": "u1", "org": "130001", "roles": ["ministry"], "aud": "tsunagu", "iss": "https://idp.example",
              "exp": int(time.time()) + 60}

    def token(**changes):  # noqa: ANN003, ANN202
        body = {k: v for k, v in {**claims, **changes}.items() if v is not None}
        return "Bearer " + jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})

    assert auth.principal(token()).roles == {"ministry"}
    for bad in ({"aud": "another-app"}, {"iss": "https://evil.example"}, {"exp": None}):
        with pytest.raises(Unauthenticated):
            auth.principal(token(**bad))
    with pytest.raises(Unauthenticated):  # a dev token is no good once an issuer is configured
        auth.principal("Bearer " + mint_token("dev-secret-" + "x" * 30, sub="a", org="1", roles=["ministry"]))
