"""Service settings from the environment. Nothing connects at import time.

Outside dev and test (`TSUNAGU_ENV`, e.g. `production`) settings refuse to exist with a weak
secret (libs/platform/secrets_check), a token set-up that would accept another issuer's tokens
(JWKS without `TSUNAGU_JWT_ISSUER` and `TSUNAGU_JWT_AUDIENCE`), or a missing key the service needs.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from libs.platform.messaging.signing import public_key_hex
from libs.platform.secrets_check import (
    key_problems,
    secret_problems,
    url_password_problems,
)

PORTS = {"intake": 8001, "registry": 8002, "dispatch": 8003, "reporting": 8004}


def port_of(service: str) -> int:
    """The service's port: <SERVICE>_PORT, else its default."""
    return int(os.environ.get(f"{service.upper()}_PORT", PORTS.get(service, 8000)))


DEV_ENVIRONMENTS = ("dev", "test")
# The services with an event store, whose audit log signs checkpoints with <SERVICE>_AUDIT_KEY.
SIGNING_SERVICES = ("intake", "registry", "dispatch")
# The services that keep a digest of a client's Idempotency-Key (in events, in the creations ledger
# of every event store: libs/platform/store/creations.py, and in reporting's submissions table),
# keyed with <SERVICE>_IDEMPOTENCY_KEY (libs/domain/contracts.idempotency_digest). Every replica
# must hold the same one.
IDEMPOTENCY_DIGEST_SERVICES = (*SIGNING_SERVICES, "reporting")
# A token may live at most this long (exp - iat): a leaked token is good for a day at worst.
DEFAULT_TOKEN_MAX_LIFETIME = 24 * 3600
DEFAULT_JWKS_REFRESH_SECONDS = 30.0
# Requests per minute (and the largest burst) per client address, per principal (org + sub), and
# failed authentications per client address. Per process: the ingress adds its own (README).
DEFAULT_RATE_PER_ADDRESS = 6000
DEFAULT_RATE_PER_PRINCIPAL = 1200
DEFAULT_RATE_AUTH_FAILURES = 30


class InsecureSettings(RuntimeError):
    """Production settings that must not start a service; the message names every variable."""


def var_dir() -> Path:
    path = Path(os.environ.get("TSUNAGU_VAR", "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _dev_secret(name: str, nbytes: int) -> str:
    """A secret kept in var/ and made on first use: fine for a laptop, refused in production."""
    path = var_dir() / name
    if not path.exists():
        # Made whole beside it and linked into place: processes starting at once (`make run`
        # starts four) all read the one that won, never a half-written or a different secret.
        fresh = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        fresh.write_text(secrets.token_hex(nbytes))
        fresh.chmod(0o600)
        try:
            os.link(fresh, path)
        except FileExistsError:
            pass
        finally:
            fresh.unlink()
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    service: str
    port: int
    database_url: str
    db_schema: str | None
    nats_url: str
    jwt_secret: str
    jwks_url: str | None
    master_key_hex: str
    environment: str = "dev"
    # Ed25519 seed that signs the audit checkpoints; made on first use in dev.
    audit_key_hex: str = ""
    # HMAC key of the Idempotency-Key digests on the bus; made on first use in dev.
    idempotency_key_hex: str = ""
    audit_interval_seconds: float = 60.0
    # The relay and log followers wake when the application commits (store/commits.py); this poll
    # is their fallback for writes another process made. A follower's rounds begin at least
    # `loop_min_interval_seconds` apart, so that under load one round takes many commits. The
    # relay's only `relay_min_interval_seconds` apart: its round is the first hop of every other
    # service's lag (issue 15: at 30 commits/s the 50 ms spacing was half the median lag). Not 0:
    # a round per commit (read, publish, record) cost a sequential command a third of its CPU; 20 ms
    # halves the rounds at 70 commits/s for a few ms of median lag (a commit after a quiet spell
    # still wakes it at once: the spacing counts from the previous round's start).
    relay_poll_seconds: float = 0.5
    loop_min_interval_seconds: float = 0.05
    relay_min_interval_seconds: float = 0.02
    consumer_max_deliver: int = 5
    # A background loop with work pending that made no progress for this long, or that failed
    # this many times in a row, makes the service unready (DESIGN §8).
    stall_seconds: float = 60.0
    max_loop_failures: int = 10
    # Tokens: an OIDC issuer's tokens are accepted only from this issuer, for this audience.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    token_max_lifetime_seconds: int = DEFAULT_TOKEN_MAX_LIFETIME
    # JWKS mode: a token signed by an unknown key fetches the issuer's keys again (a rotation), at
    # most once in this many seconds (libs/platform/web/auth.py).
    jwks_refresh_seconds: float = DEFAULT_JWKS_REFRESH_SECONDS
    # The web edge (libs/platform/web/edge.py): 0 turns a limit off.
    rate_per_address: int = DEFAULT_RATE_PER_ADDRESS
    rate_per_principal: int = DEFAULT_RATE_PER_PRINCIPAL
    rate_auth_failures: int = DEFAULT_RATE_AUTH_FAILURES
    # /docs and /openapi.json: on in dev and test, off elsewhere unless TSUNAGU_DOCS=1.
    docs_enabled: bool = True
    # A master key rotation (privacy/sealing.py): the keys that wrapped subject keys before the
    # current one, held until every subject key is rewrapped, then destroyed.
    previous_master_keys_hex: tuple[str, ...] = ()
    # The public keys that sign each publishing service's events (messaging/signing.py), pinned
    # here: a consumer applies only what they verify.
    public_keys: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    # Replicas of this service against one database (TSUNAGU_REPLICAS): above 1, every background
    # role runs only in the replica holding its lease (libs/platform/lease.py), which lasts this long.
    replicas: int = 1
    lease_seconds: float = 5.0
    # TSUNAGU_BACKGROUND=off: a web-only replica. It serves HTTP and competes for no lease, so its
    # requests share the GIL with no background loop; a worker replica (on, the default) beside it
    # runs them (deploy/README, "Web and worker replicas"). Needs replicas > 1, hence PostgreSQL.
    background: bool = True
    # Free heap pages handed back to the system this often, in every process (libs/platform/memory.py);
    # 0 turns the job off.
    malloc_trim_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not self.background and not self.is_postgres:
            raise InsecureSettings(
                "TSUNAGU_BACKGROUND=off needs PostgreSQL: on SQLite one process serves HTTP and runs every "
                "background loop (the relay, consumers, read models, jobs), and no other process could take "
                "them over; set TSUNAGU_BACKGROUND=on, or use PostgreSQL with worker replicas beside this one")
        if not self.background and self.replicas < 2:
            raise InsecureSettings(
                "TSUNAGU_BACKGROUND=off needs TSUNAGU_REPLICAS of 2 or more: a web-only replica runs no "
                "background loop, so at least one worker replica (TSUNAGU_BACKGROUND=on) must run them")
        if self.replicas > 1 and not self.is_postgres:
            raise InsecureSettings(
                f"TSUNAGU_REPLICAS={self.replicas} needs PostgreSQL: SQLite is for one process only (set "
                f"{self.service.upper()}_DATABASE_URL or DATABASE_URL to postgresql+psycopg://…, "
                "or TSUNAGU_REPLICAS=1)")
        if self.replicas > 1 and not 1 <= self.lease_seconds <= 60:
            raise InsecureSettings("TSUNAGU_LEASE_SECONDS must be between 1 and 60")
        if self.environment in DEV_ENVIRONMENTS:
            return
        prefix = self.service.upper()
        problems = [*secret_problems("TSUNAGU_JWT_SECRET", self.jwt_secret),
                    *key_problems(f"{prefix}_MASTER_KEY", self.master_key_hex),
                    *(p for k in self.previous_master_keys_hex
                      for p in key_problems(f"{prefix}_PREVIOUS_MASTER_KEYS", k)),
                    *url_password_problems(f"{prefix}_DATABASE_URL or DATABASE_URL", self.database_url),
                    *url_password_problems("NATS_URL", self.nats_url)]
        if self.service in SIGNING_SERVICES:
            problems += key_problems(f"{prefix}_AUDIT_KEY", self.audit_key_hex)
        if self.service in IDEMPOTENCY_DIGEST_SERVICES:
            problems += key_problems(f"{prefix}_IDEMPOTENCY_KEY", self.idempotency_key_hex)
        for producer in SIGNING_SERVICES:
            if not re.fullmatch(r"[0-9a-fA-F]{64}(\s*,\s*[0-9a-fA-F]{64})*", self.public_keys.get(producer) or ""):
                problems.append(f"{producer.upper()}_PUBLIC_KEY must be the 64 hex characters "
                                f"`tsunagu keys public` prints for {producer} (and, after a rotation of "
                                "its signing key, the earlier ones after it, comma-separated)")
        if self.jwks_url and not (self.jwt_issuer and self.jwt_audience):
            problems.append("TSUNAGU_JWKS_URL needs TSUNAGU_JWT_ISSUER and TSUNAGU_JWT_AUDIENCE (else any "
                            "token that issuer signs for any application would be accepted)")
        if not 60 <= self.token_max_lifetime_seconds <= 7 * 24 * 3600:
            problems.append("TSUNAGU_JWT_MAX_LIFETIME_SECONDS must be between 60 and 604800")
        if not 1 <= self.jwks_refresh_seconds <= 3600:
            problems.append("TSUNAGU_JWKS_REFRESH_SECONDS must be between 1 and 3600")
        if problems:
            raise InsecureSettings(f"TSUNAGU_ENV={self.environment}: " + "; ".join(problems))

    @classmethod
    def from_env(cls, service: str, **overrides: Any) -> Settings:
        env = os.environ
        environment = env.get("TSUNAGU_ENV", "dev")
        default_db = f"sqlite:///{var_dir() / (service + '.db')}?timeout=30"
        settings = cls(
            service=service,
            port=port_of(service),
            database_url=env.get(f"{service.upper()}_DATABASE_URL")
            or env.get("DATABASE_URL")
            or default_db,
            # PostgreSQL only: each service keeps its tables in its own schema.
            db_schema=env.get("DB_SCHEMA_PREFIX", "tsunagu_") + service,
            nats_url=env.get("NATS_URL", "nats://127.0.0.1:4222"),
            jwt_secret=env.get("TSUNAGU_JWT_SECRET") or _dev_or_refuse(environment, "dev-jwt.key"),
            jwks_url=env.get("TSUNAGU_JWKS_URL") or None,
            master_key_hex=env.get(f"{service.upper()}_MASTER_KEY")
            or _dev_or_refuse(environment, f"{service}-master.key"),
            environment=environment,
            audit_key_hex=env.get(f"{service.upper()}_AUDIT_KEY")
            or (_dev_or_refuse(environment, f"{service}-audit.key") if service in SIGNING_SERVICES else ""),
            idempotency_key_hex=env.get(f"{service.upper()}_IDEMPOTENCY_KEY")
            or (_dev_or_refuse(environment, f"{service}-idempotency.key")
                if service in IDEMPOTENCY_DIGEST_SERVICES else ""),
            stall_seconds=float(env.get("TSUNAGU_STALL_SECONDS", "60")),
            max_loop_failures=int(env.get("TSUNAGU_MAX_LOOP_FAILURES", "10")),
            jwt_issuer=env.get("TSUNAGU_JWT_ISSUER") or None,
            jwt_audience=env.get("TSUNAGU_JWT_AUDIENCE") or None,
            token_max_lifetime_seconds=int(env.get("TSUNAGU_JWT_MAX_LIFETIME_SECONDS") or DEFAULT_TOKEN_MAX_LIFETIME),
            jwks_refresh_seconds=float(env.get("TSUNAGU_JWKS_REFRESH_SECONDS") or DEFAULT_JWKS_REFRESH_SECONDS),
            rate_per_address=_count(env, "TSUNAGU_RATE_PER_ADDRESS", DEFAULT_RATE_PER_ADDRESS),
            rate_per_principal=_count(env, "TSUNAGU_RATE_PER_PRINCIPAL", DEFAULT_RATE_PER_PRINCIPAL),
            rate_auth_failures=_count(env, "TSUNAGU_RATE_AUTH_FAILURES", DEFAULT_RATE_AUTH_FAILURES),
            public_keys={producer: env.get(f"{producer.upper()}_PUBLIC_KEY") or _dev_public_key(environment, producer)
                         for producer in SIGNING_SERVICES},
            previous_master_keys_hex=tuple(k.strip() for k in (
                env.get(f"{service.upper()}_PREVIOUS_MASTER_KEYS") or _dev_previous_keys(environment, service)
            ).split(",") if k.strip()),
            docs_enabled=environment in DEV_ENVIRONMENTS or env.get("TSUNAGU_DOCS", "") in ("1", "true", "yes"),
            replicas=int(env.get("TSUNAGU_REPLICAS") or 1),
            lease_seconds=float(env.get("TSUNAGU_LEASE_SECONDS") or 5.0),
            background=_switch(env, "TSUNAGU_BACKGROUND", default=True),
            malloc_trim_seconds=float(env.get("TSUNAGU_MALLOC_TRIM_SECONDS") or 30.0),
        )
        return replace(settings, **overrides) if overrides else settings

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    value = int(raw) if raw.strip() else default
    if value < 0:
        raise ValueError(f"{name} must be 0 (off) or a positive number, not {raw!r}")
    return value


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("on", "off"):
        raise ValueError(f"{name} must be on or off, not {raw!r}")
    return raw == "on"


def _dev_previous_keys(environment: str, service: str) -> str:
    """On a laptop, a rotation under way (`tsunagu keys rotate`) keeps the old master key here."""
    path = var_dir() / f"{service}-master.previous"
    return path.read_text().strip() if environment in DEV_ENVIRONMENTS and path.exists() else ""


def _dev_public_key(environment: str, producer: str) -> str:
    """On a laptop every service's signing key is in var/ (or given): its public key follows."""
    seed = os.environ.get(f"{producer.upper()}_AUDIT_KEY") or _dev_or_refuse(environment, f"{producer}-audit.key")
    if not seed:
        return ""
    return public_key_hex(seed)


def _dev_or_refuse(environment: str, name: str) -> str:
    """A dev secret kept in var/; outside dev and test nothing, so that the settings' check names
    every variable that is missing at once."""
    if environment not in DEV_ENVIRONMENTS:
        return ""
    return _dev_secret(name, 32)
