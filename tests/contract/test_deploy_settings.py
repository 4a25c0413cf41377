"""The documented deployments start (issue 14): each service's settings are made from exactly the
environment deploy/compose.yaml (with deploy/.env.example) or the Kubernetes manifests (with
secret.example.yaml) give it, plus the image's own ENV, with every placeholder replaced by a good
random value, and the app is built on them; with the placeholders left in, every service refuses to
start and names each variable. Production settings refuse weak secrets (libs/platform/secrets_check).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
import yaml

from libs.platform.secrets_check import key_problems, secret_problems
from libs.platform.settings import InsecureSettings, Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = ("intake", "registry", "dispatch", "reporting")


def _good(name: str, value: str) -> str:
    """What an operator following the comments puts in place of a placeholder."""
    if value == "":
        return ""  # optional: left empty (TSUNAGU_JWKS_URL, issuer, audience)
    return secrets.token_hex(32 if name.endswith("_KEY") else 24)


def _image_env(service: str, port: str) -> dict[str, str]:
    """The ENV of deploy/Dockerfile for these build args."""
    text = (DEPLOY / "Dockerfile").read_text()
    match = re.search(r"^ENV SERVICE=.*?(?=^\S|\n\n)", text, re.M | re.S)
    assert match is not None, "deploy/Dockerfile has no ENV SERVICE=… block"
    block = match.group(0)
    pairs = dict(re.findall(r"(\w+)=(\S+)", block.replace("\\\n", " ")))
    return {k: v.replace("${SERVICE}", service).replace("${PORT}", port) for k, v in pairs.items()}


def _interpolate(value: str, dotenv: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, from deploy/.env."""
    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if op == ":?" and not dotenv.get(name):
            raise AssertionError(f"compose stops: {name} {arg}")
        return dotenv.get(name) or (arg if op == ":-" else "")

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, str(value))


def compose_env(service: str, dotenv: dict[str, str]) -> dict[str, str]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    definition = compose["services"][service]
    args = definition["build"]["args"]
    env = _image_env(args["SERVICE"], args["PORT"])
    env.update({k: _interpolate(v, dotenv) for k, v in definition["environment"].items()})
    return env


def kubernetes_env(service: str, secret: dict[str, str]) -> dict[str, str]:
    documents = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / f"{service}.yaml").read_text()) if d]
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for item in container["env"]:
        if "value" in item:  # $(VAR) names an earlier variable of the container
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], item["value"])
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "tsunagu-secrets"
        if ref["key"] in secret:
            env[item["name"]] = secret[ref["key"]]
        else:
            assert ref.get("optional"), f"{service}: {ref['key']} is in no Secret and not optional"
    port = str(container["ports"][0]["containerPort"])
    return {**_image_env(service, port), **env}


def _dotenv(replace: bool = True, **changes: str) -> dict[str, str]:
    pairs = dict(re.findall(r"^(\w+)=(.*)$", (DEPLOY / ".env.example").read_text(), re.M))
    return {**{k: _good(k, v) if replace else v for k, v in pairs.items()}, **changes}


def _secret(replace: bool = True, **changes: str) -> dict[str, str]:
    data = yaml.safe_load((DEPLOY / "kubernetes" / "secret.example.yaml").read_text())["stringData"]
    return {**{k: _good(k, str(v)) if replace else str(v) for k, v in data.items()}, **changes}


def _start(service: str, env: dict[str, str], monkeypatch, tmp_path: Path) -> Settings:
    """Settings.from_env and the app, under exactly `env` (TSUNAGU_VAR moved to a scratch dir)."""
    monkeypatch.setattr("os.environ", {**env, "TSUNAGU_VAR": str(tmp_path)})
    settings = Settings.from_env(service)
    module = __import__(f"services.{service}.bootstrap", fromlist=["create_app"])
    module.create_app(settings)
    return settings


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_starts_with_exactly_the_environment_compose_gives_it(service, monkeypatch, tmp_path):
    settings = _start(service, compose_env(service, _dotenv()), monkeypatch, tmp_path)
    assert settings.environment == "production" and settings.is_postgres
    assert not settings.docs_enabled, "no /docs and /openapi.json in production"
    assert settings.audit_key_hex or service == "reporting"
    assert bool(settings.idempotency_key_hex) == (service in ("intake", "registry", "dispatch", "reporting"))


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_starts_with_exactly_the_environment_kubernetes_gives_it(service, monkeypatch, tmp_path):
    settings = _start(service, kubernetes_env(service, _secret()), monkeypatch, tmp_path)
    assert settings.environment == "production" and settings.is_postgres and not settings.docs_enabled


@pytest.mark.parametrize("service", SERVICES)
def test_the_placeholders_of_the_examples_are_refused_by_every_service(service, monkeypatch, tmp_path):
    for env in (compose_env(service, _dotenv(replace=False)), kubernetes_env(service, _secret(replace=False))):
        with pytest.raises(InsecureSettings) as refused:
            _start(service, env, monkeypatch, tmp_path)
        message = str(refused.value)
        for name in ("TSUNAGU_JWT_SECRET", f"{service.upper()}_MASTER_KEY", "NATS_URL", "DATABASE_URL"):
            assert name in message, (name, message)
        if service in ("intake", "registry", "dispatch", "reporting"):  # clients' Idempotency-Keys: keyed digests
            assert f"{service.upper()}_IDEMPOTENCY_KEY" in message, message
        assert "change-me" not in message and "replace-with" not in message, "values are never echoed"


def test_jwks_needs_issuer_and_audience_in_production(monkeypatch, tmp_path):
    jwks = "https://idp.example.jp/.well-known/jwks.json"
    for env in (compose_env("intake", _dotenv(TSUNAGU_JWKS_URL=jwks)),
                kubernetes_env("intake", _secret(TSUNAGU_JWKS_URL=jwks))):
        with pytest.raises(InsecureSettings, match="TSUNAGU_JWT_ISSUER and TSUNAGU_JWT_AUDIENCE"):
            _start("intake", env, monkeypatch, tmp_path)
    for env in (compose_env("intake", _dotenv(TSUNAGU_JWKS_URL=jwks, TSUNAGU_JWT_ISSUER="https://idp.example.jp",
                                              TSUNAGU_JWT_AUDIENCE="tsunagu")),
                kubernetes_env("intake", _secret(TSUNAGU_JWKS_URL=jwks, TSUNAGU_JWT_ISSUER="https://idp.example.jp",
                                                 TSUNAGU_JWT_AUDIENCE="tsunagu"))):
        settings = _start("intake", env, monkeypatch, tmp_path)
        assert (settings.jwt_issuer, settings.jwt_audience) == ("https://idp.example.jp", "tsunagu")


def test_docs_can_be_turned_on_in_production_and_rate_limits_set_by_environment(monkeypatch, tmp_path):
    env = {**compose_env("reporting", _dotenv()), "TSUNAGU_DOCS": "1", "TSUNAGU_RATE_PER_ADDRESS": "0",
           "TSUNAGU_RATE_AUTH_FAILURES": "5", "TSUNAGU_JWT_MAX_LIFETIME_SECONDS": "3600"}
    settings = _start("reporting", env, monkeypatch, tmp_path)
    assert settings.docs_enabled
    assert (settings.rate_per_address, settings.rate_auth_failures, settings.rate_per_principal) == (0, 5, 1200)
    assert settings.token_max_lifetime_seconds == 3600


def test_the_jwks_refresh_interval_is_set_by_environment_within_bounds(monkeypatch, tmp_path):
    oidc = {"TSUNAGU_JWKS_URL": "https://idp.example.jp/jwks", "TSUNAGU_JWT_ISSUER": "https://idp.example.jp",
            "TSUNAGU_JWT_AUDIENCE": "tsunagu"}
    assert _start("reporting", {**compose_env("reporting", _dotenv(**oidc))}, monkeypatch,
                  tmp_path).jwks_refresh_seconds == 30
    env = {**compose_env("reporting", _dotenv(**oidc)), "TSUNAGU_JWKS_REFRESH_SECONDS": "5"}
    assert _start("reporting", env, monkeypatch, tmp_path).jwks_refresh_seconds == 5
    for bad in ("0", "86400"):
        with pytest.raises(InsecureSettings, match="TSUNAGU_JWKS_REFRESH_SECONDS"):
            _start("reporting", {**env, "TSUNAGU_JWKS_REFRESH_SECONDS": bad}, monkeypatch, tmp_path)


@pytest.mark.parametrize("weak", ["a", "x" * 40, "ab" * 20, "changeme" * 5, "0123456789abcdefghijklmnopqrstuvwxyz",
                                  "change-me-at-least-32-characters-long", "my-super-secret-jwt-key-for-tsunagu!",
                                  "Tr0ub4dor&3", "password1234567890password1234567890"])
def test_weak_secrets_are_refused(weak):
    assert secret_problems("TSUNAGU_JWT_SECRET", weak)


def test_good_secrets_and_keys_pass_and_keys_must_be_64_hex_characters():
    for _ in range(200):
        assert secret_problems("S", secrets.token_hex(24)) == []
        assert secret_problems("S", secrets.token_urlsafe(32)) == []
        assert key_problems("K", secrets.token_hex(32)) == []
    assert key_problems("K", "00" * 32)  # the right shape, no entropy
    assert key_problems("K", secrets.token_hex(16))
    assert key_problems("K", "replace-with-openssl-rand-hex-32")


def test_a_random_secret_that_happens_to_hold_a_short_word_is_not_a_placeholder():
    for lucky in ("aXtodoB9kLmQ2rStUvWxYz01Pq3Rs4Tu5Vw6Xy7Za8Bc", "q9TESTz0Lm3kPw8RtYuI2oPaSdFgHjKlZxCvBnM4Q7W"):
        assert secret_problems("S", lucky) == []
    for placeholder in ("todo-fill-in-a-real-secret-of-32-chars-1", "test_secret_for_local_use_only_12345",
                        "x-dummy-x"):
        assert any("placeholder" in p for p in secret_problems("S", placeholder)), placeholder
