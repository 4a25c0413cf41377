"""Tokens of a real OpenID Connect provider (issue 14, "Tokens"): the certified `oidc-provider`
package (tests/oidc/, installed by `make install`) runs in its own node process on a random
loopback port, issues client-credentials access tokens with our claims, and rotates its keys;
a service in JWKS mode, configured from the provider's discovery document, takes its tokens and
refuses those of another issuer, for another audience, expired, or signed by a key it never
published."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
AUDIENCE = "tsunagu"
PROBLEM = "application/problem+json"
CITY = "131016"  # 千代田区
CLIENTS = [
    {"client_id": "chiyoda-city", "org": CITY, "roles": ["municipal_officer"]},
    {"client_id": "short-lived", "org": CITY, "roles": ["municipal_officer"], "ttl": 2},
    {"client_id": "without-our-claims"},
    {"client_id": "unknown-role", "org": CITY, "roles": ["administrator"]},
]


@dataclass
class Issuer:
    """The provider as a test sees it: its two issuers (one key set), tokens, and its test-only
    endpoints (rotate the keys, count the JWKS fetches)."""

    issuer: str
    other_issuer: str
    secrets: dict[str, str]

    def discovery(self, issuer: str | None = None) -> dict:
        r = httpx.get(f"{issuer or self.issuer}/.well-known/openid-configuration", timeout=10)
        r.raise_for_status()
        return r.json()

    def token(self, client_id: str = "chiyoda-city", *, issuer: str | None = None,
              resource: str | None = None) -> str:
        data = {"grant_type": "client_credentials", "scope": "api", **({"resource": resource} if resource else {})}
        r = httpx.post(self.discovery(issuer)["token_endpoint"], data=data,
                       auth=(client_id, self.secrets[client_id]), timeout=10)
        r.raise_for_status()
        return r.json()["access_token"]

    def rotate(self) -> str:
        return httpx.post(f"{self.issuer}/__rotate", timeout=10).json()["kid"]

    def jwks_fetches(self) -> int:
        return httpx.get(f"{self.issuer}/__stats", timeout=10).json()["jwks_fetches"]


def _node_or_skip() -> str:
    node = shutil.which("node")
    installed = (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").exists()
    if node and installed:
        return node
    reason = ("node is not installed" if not node else
              "tests/oidc/node_modules is missing: `make install` installs the OIDC provider with npm")
    if os.environ.get("CI") == "true":
        pytest.fail(f"the OIDC provider test must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def oidc_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    """One provider for this module's tests (started once: about a second of node)."""
    node = _node_or_skip()
    tmp_path = tmp_path_factory.mktemp("oidc")
    secrets = {c["client_id"]: uuid.uuid4().hex + uuid.uuid4().hex for c in CLIENTS}
    config = tmp_path / "oidc.json"
    config.write_text(json.dumps({"audience": AUDIENCE, "clients": [
        {**c, "client_secret": secrets[c["client_id"]]} for c in CLIENTS]}))
    log = (tmp_path / "oidc.log").open("w")
    proc = subprocess.Popen([node, str(OIDC_DIR / "issuer.mjs"), str(config)], cwd=OIDC_DIR,
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(proc.stdout.readline() if proc.stdout else ""))
        reader.start()
        reader.join(timeout=15)
        if not first or not first[0]:
            raise RuntimeError(f"the OIDC provider did not start: {(tmp_path / 'oidc.log').read_text()}")
        started = json.loads(first[0])
        yield Issuer(issuer=started["issuer"], other_issuer=started["other_issuer"], secrets=secrets)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _start(start_service, nats_server, issuer: Issuer, **overrides):
    """intake in JWKS mode, set up as README says: TSUNAGU_JWKS_URL is the discovery document's
    `jwks_uri`, TSUNAGU_JWT_ISSUER its `issuer`, TSUNAGU_JWT_AUDIENCE our audience."""
    discovery = issuer.discovery()
    return start_service("intake", nats_server.url, jwks_url=discovery["jwks_uri"],
                         jwt_issuer=discovery["issuer"], jwt_audience=AUDIENCE, **overrides)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refused(r: httpx.Response, why: str) -> None:
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM
    assert why in r.json()["detail"], r.json()


def _register_centre(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/v1/centres", headers=_bearer(token), json={
        "name": "千代田区ひきこもり相談窓口", "kind": "adult", "site": "window", "prefecture": CITY})


def test_the_providers_client_credentials_token_is_accepted_and_others_are_refused(
        oidc_issuer, nats_server, start_service):
    discovery = oidc_issuer.discovery()
    assert discovery["issuer"] == oidc_issuer.issuer
    assert "client_credentials" in discovery["grant_types_supported"]
    token = oidc_issuer.token()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "chiyoda-city" and claims["org"] == CITY
    assert claims["roles"] == ["municipal_officer"] and claims["aud"] == AUDIENCE
    assert claims["iss"] == oidc_issuer.issuer and claims["exp"] > claims["iat"]

    intake = _start(start_service, nats_server, oidc_issuer)
    with intake.client() as client:
        created = _register_centre(client, token)
        assert created.status_code == 201, created.text
        assert client.get(created.headers["Location"], headers=_bearer(token)).status_code == 200

        # The same keys, another issuer (a multi-tenant provider's other tenant).
        other = oidc_issuer.token(issuer=oidc_issuer.other_issuer)
        assert jwt.get_unverified_header(other)["kid"] == jwt.get_unverified_header(token)["kid"]
        _refused(_register_centre(client, other), "not issued for this service")
        # Our issuer, another application's audience.
        elsewhere = oidc_issuer.token(resource="urn:another:app")
        assert jwt.decode(elsewhere, options={"verify_signature": False})["aud"] != AUDIENCE
        _refused(_register_centre(client, elsewhere), "not issued for this service")
        # Expired: the provider's own two-second token (iat is whole seconds: good for at least one), once over.
        short = oidc_issuer.token("short-lived")
        assert client.get(created.headers["Location"], headers=_bearer(short)).status_code == 200
        expires = jwt.decode(short, options={"verify_signature": False})["exp"]
        time.sleep(max(0.0, expires + 1 - time.time()))
        _refused(client.get(created.headers["Location"], headers=_bearer(short)), "expired")
        # The provider's token for a client it gave none of our claims, or a role we do not know.
        _refused(_register_centre(client, oidc_issuer.token("without-our-claims")), "lacks sub, org or roles")
        _refused(_register_centre(client, oidc_issuer.token("unknown-role")), "role this system does not know")
        # Dev tokens are no good once an issuer is configured.
        _refused(_register_centre(client, _dev_token()), "")


def _dev_token() -> str:
    from libs.platform.web.auth import mint_token
    from tests.harness import JWT_SECRET

    return mint_token(JWT_SECRET, sub="tester", org=CITY, roles=["municipal_officer"])


def _forged(issuer: Issuer, key: rsa.RSAPrivateKey) -> str:
    """Our claims, signed by a key the provider never published, under a key id it never used."""
    now = int(time.time())
    return jwt.encode({"sub": "x", "org": CITY, "roles": ["municipal_officer"], "iss": issuer.issuer,
                       "aud": AUDIENCE, "iat": now, "exp": now + 60}, key, algorithm="RS256",
                      headers={"kid": uuid.uuid4().hex})


def test_a_key_rotated_at_the_provider_is_taken_without_a_restart_and_unknown_keys_fetch_boundedly(
        oidc_issuer, nats_server, start_service):
    intake = _start(start_service, nats_server, oidc_issuer, jwks_refresh_seconds=2)
    with intake.client() as client:
        before = oidc_issuer.token()
        assert _register_centre(client, before).status_code == 201

        new_kid = oidc_issuer.rotate()
        after = oidc_issuer.token()
        assert jwt.get_unverified_header(after)["kid"] == new_kid
        deadline = time.monotonic() + 10
        while (r := _register_centre(client, after)).status_code != 201:
            _refused(r, "signing key is not one of the issuer's")
            assert time.monotonic() < deadline, "the rotated key was not taken within 10 s"
            time.sleep(0.2)
        # The old key is still published: tokens signed before the rotation stay good until exp.
        assert _register_centre(client, before).status_code == 201

        # A stream of tokens under made-up key ids is refused, and fetches the keys at most once
        # per refresh interval (2 s here), not once per token.
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        fetches, started = oidc_issuer.jwks_fetches(), time.monotonic()
        for _ in range(30):
            _refused(_register_centre(client, _forged(oidc_issuer, key)), "signing key is not one of the issuer's")
        elapsed = time.monotonic() - started
        assert oidc_issuer.jwks_fetches() - fetches <= elapsed / 2 + 1
