"""Dev tokens from the CLI, and tokens of an OIDC issuer checked against its JWKS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from libs.platform.tests.conftest import ISSUER, rs256_tokens
from libs.platform.web.auth import (
    ROLE_GROUPS,
    ROLES,
    Authenticator,
    IssuerUnavailable,
    RolesConflict,
    Unauthenticated,
    mint_token,
)


def test_the_cli_prints_a_dev_token_signed_with_the_local_dev_key(tmp_path):
    env = {**os.environ, "TSUNAGU_VAR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "token", "--role", "auditor",
                          "--role", "auditor_pii", "--org", "130001", "--sub", "alice"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    secret = (tmp_path / "dev-jwt.key").read_text().strip()
    principal = Authenticator(secret=secret).principal(f"Bearer {out}")
    assert (principal.sub, principal.org, principal.roles) == ("alice", "130001", frozenset({"auditor", "auditor_pii"}))


def test_the_cli_refuses_an_unknown_role(tmp_path):
    env = {**os.environ, "TSUNAGU_VAR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", "token", "--role", "king", "--org", "1"],
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
def jwks_issuer(rotating_issuer):
    """The issuer's endpoint publishing one key (k1), and that key."""
    keys, url, _ = rotating_issuer
    return keys["k1"], url


def test_with_a_jwks_url_only_the_issuers_tokens_for_us_are_accepted(jwks_issuer):
    key, url = jwks_issuer
    auth = Authenticator(secret="dev-secret-" + "x" * 30, jwks_url=url, audience="tsunagu", issuer="https://idp.example")
    claims = {"sub": "u1", "org": "130001", "roles": ["ministry"], "aud": "tsunagu", "iss": "https://idp.example",
              "iat": int(time.time()), "exp": int(time.time()) + 60}

    def token(**changes):
        body = {k: v for k, v in {**claims, **changes}.items() if v is not None}
        return "Bearer " + jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})

    assert auth.principal(token()).roles == {"ministry"}
    for bad in ({"aud": "another-app"}, {"iss": "https://evil.example"}, {"exp": None}, {"iat": None},
                {"exp": 253402300799}, {"roles": ["ministry", "prefecture_officer"]}, {"roles": ["king"]}):
        with pytest.raises((Unauthenticated, RolesConflict)):
            auth.principal(token(**bad))
    with pytest.raises(Unauthenticated):  # a dev token is no good once an issuer is configured
        auth.principal("Bearer " + mint_token("dev-secret-" + "x" * 30, sub="a", org="1", roles=["ministry"]))


SECRET = "s" * 40


def _hs256(**claims) -> str:
    now = int(time.time())
    body = {"sub": "a", "org": "130001", "roles": ["auditor"], "iss": "tsunagu-dev", "iat": now, "exp": now + 60,
            **claims}
    return "Bearer " + jwt.encode({k: v for k, v in body.items() if v is not None}, SECRET, algorithm="HS256")


def test_a_token_lives_at_most_the_maximum_lifetime_and_must_say_when_it_was_issued():
    auth = Authenticator(secret=SECRET, max_lifetime=24 * 3600)
    now = int(time.time())
    assert auth.principal(_hs256(exp=now + 24 * 3600)).sub == "a"
    for claims in ({"exp": 253402300799},  # 9999-12-31: issue 14 found it accepted
                   {"exp": now + 24 * 3600 + 1}, {"iat": None}, {"iat": "yesterday"},
                   {"iat": now + 3600, "exp": now + 7200}):  # issued in the future
        with pytest.raises(Unauthenticated):
            auth.principal(_hs256(**claims))


def test_unknown_roles_are_refused_and_so_are_roles_that_must_not_combine():
    auth = Authenticator(secret=SECRET)
    with pytest.raises(Unauthenticated) as refused:
        auth.principal(_hs256(roles=["auditor", "superuser"]))
    assert refused.value.extensions == {"unknown_roles": ["superuser"]}
    for roles in (["auditor", "supporter"], ["auditor_pii", "centre_staff"], ["ministry", "prefecture_officer"],
                  ["operator", "auditor"], ["operator", "municipal_officer"], ["supporter", "centre_staff"]):
        with pytest.raises(RolesConflict):
            auth.principal(_hs256(roles=roles))
        with pytest.raises(ValueError):
            mint_token(SECRET, sub="a", org="1", roles=roles)
    for roles in (["auditor", "auditor_pii"], ["centre_staff", "municipal_officer"], ["ministry", "auditor"], []):
        assert auth.principal(_hs256(roles=roles)).roles == set(roles)
    assert ROLES == {"centre_staff", "municipal_officer", "prefecture_officer", "supporter", "auditor",
                     "auditor_pii", "ministry", "operator"}
    assert sum(len(g) for g in ROLE_GROUPS.values()) == len(ROLES), "each role in exactly one group"


@pytest.mark.parametrize("role, why", [("portal", "token of the person it acts for"),
                                       ("integrator", "reads the streams with its NATS user")])
def test_portal_and_integrator_are_no_roles_of_the_apis_and_are_refused_saying_why(role, why):
    # Issue 14: both were accepted and held no grant anywhere; a portal acts with its user's token.
    auth = Authenticator(secret=SECRET)
    for roles in ([role], [role, "centre_staff"]):
        with pytest.raises(Unauthenticated, match=why) as refused:
            auth.principal(_hs256(roles=roles))
        assert refused.value.extensions == {"unknown_roles": [role]}
    with pytest.raises(ValueError, match="unknown roles"):
        mint_token(SECRET, sub="a", org="130001", roles=[role])


GARBAGE = ["not-a-jwt", "a.b.c", "\u00ff\u00fe.\u00fd.x", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0",
           "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", "eyJ!!!.e30.e30", "x" * 9000, "....", "e30.e30.e30",
           "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.bm90IGpzb24.c2ln"]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_a_garbage_token_is_refused_in_our_words_without_the_decoders_message(garbage):
    with pytest.raises(Unauthenticated) as refused:
        Authenticator(secret=SECRET).principal("Bearer " + garbage)
    detail = refused.value.detail
    assert detail in ("the token is not a valid signed token", "the token is too long",
                      "the token lacks the claim exp"), detail
    for word in ("codec", "decode", "padding", "Error", "utf-8", "JSON", "segments", "byte"):
        assert word not in detail


@pytest.fixture
def flaky_issuer():
    """A JWKS endpoint that can be taken down (500) and counts its fetches."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
    state = {"up": True, "fetches": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state["fetches"] += 1
            self.send_response(200 if state["up"] else 500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if state["up"] else b"{}")

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{server.server_address[1]}/jwks.json", state
    server.shutdown()


def test_an_issuer_outage_is_ridden_out_on_the_last_keys_and_not_asked_again_per_request(flaky_issuer):
    key, url, state = flaky_issuer
    now = int(time.time())
    claims = {"sub": "u1", "org": "130001", "roles": ["ministry"], "aud": "tsunagu", "iss": "https://idp.example",
              "iat": now, "exp": now + 60}
    token = "Bearer " + jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    def authenticator() -> Authenticator:
        return Authenticator(secret="dev-secret-" + "x" * 30, jwks_url=url, audience="tsunagu",
                             issuer="https://idp.example", jwks_refresh_seconds=1, jwks_cache_seconds=0.2)

    auth = authenticator()
    assert auth.principal(token).roles == {"ministry"}
    state["up"] = False
    time.sleep(0.3)  # the cached key set has expired: the next token fetches it, and fails
    fetches = state["fetches"]
    for _ in range(20):  # the last keys still check the tokens, and the issuer is asked once
        assert auth.principal(token).roles == {"ministry"}
    assert state["fetches"] == fetches + 1

    fresh = authenticator()  # never had the keys: refused as unavailable, asked once per interval
    for _ in range(5):
        with pytest.raises(IssuerUnavailable):
            fresh.principal(token)
    assert state["fetches"] == fetches + 2

    state["up"] = True
    time.sleep(1.1)
    assert fresh.principal(token).roles == {"ministry"}


# -- the verified-token cache ------------------------------------------------------------------
def test_a_verified_token_is_taken_from_the_cache_and_refused_once_it_has_expired():
    auth = Authenticator(secret="s" * 40)
    token = "Bearer " + mint_token("s" * 40, sub="a", org="1", roles=["auditor"], ttl_seconds=1)
    first = auth.principal(token)
    assert auth.principal(token) is first, "checked once, then recalled"
    exp = jwt.decode(token.split()[1], options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(Unauthenticated, match="the token has expired"):
        auth.principal(token)
    with pytest.raises(Unauthenticated, match="the token has expired"):  # and it stays refused
        auth.principal(token)


def test_a_refused_token_is_not_remembered_as_good():
    auth = Authenticator(secret="s" * 40)
    good = mint_token("s" * 40, sub="a", org="1", roles=["auditor"])
    tampered = "Bearer " + good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.principal(tampered)


def test_a_cached_token_whose_key_the_issuer_withdrew_is_refused_when_the_key_set_is_due_again(rotating_issuer):
    keys, url, state = rotating_issuer
    token = rs256_tokens(keys)
    auth = Authenticator(secret="dev-secret-" + "x" * 30, jwks_url=url, audience="tsunagu",
                         issuer=ISSUER, jwks_refresh_seconds=0.1, jwks_cache_seconds=0.3)
    old = token("k1")
    assert auth.principal(old) is auth.principal(old), "checked once, then recalled"
    state["published"] = ["k2"]  # rotated: k1 withdrawn
    time.sleep(0.15)  # an unknown key id fetches the set again, at most once per refresh interval
    assert auth.principal(token("k2")).roles == {"ministry"}, "a token of the new key is taken at once"
    time.sleep(0.4)  # the key set that checked the old token is due again
    with pytest.raises(Unauthenticated, match="signing key"):
        auth.principal(old)
