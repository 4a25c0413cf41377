"""Service settings from the environment. Nothing connects at import time."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

PORTS = {"intake": 8001, "registry": 8002, "dispatch": 8003, "reporting": 8004}


def port_of(service: str) -> int:
    """The service's port: <SERVICE>_PORT, else its default."""
    return int(os.environ.get(f"{service.upper()}_PORT", PORTS.get(service, 8000)))
DEV_ENVIRONMENTS = ("dev", "test")


def var_dir() -> Path:
    path = Path(os.environ.get("TSUNAGU_VAR", "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _dev_secret(name: str, nbytes: int) -> str:
    """A secret kept in var/ and made on first use: fine for a laptop, refused in production."""
    path = var_dir() / name
    if not path.exists():
        path.write_text(secrets.token_hex(nbytes))
        path.chmod(0o600)
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
    audit_interval_seconds: float = 60.0
    relay_poll_seconds: float = 0.05
    consumer_max_deliver: int = 5
    # A background loop with work pending that made no progress for this long, or that failed
    # this many times in a row, makes the service unready (DESIGN §8).
    stall_seconds: float = 60.0
    max_loop_failures: int = 10
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, service: str, **overrides: object) -> Settings:
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
            jwks_url=env.get("TSUNAGU_JWKS_URL"),
            master_key_hex=env.get(f"{service.upper()}_MASTER_KEY")
            or _dev_or_refuse(environment, f"{service}-master.key"),
            environment=environment,
            audit_key_hex=env.get(f"{service.upper()}_AUDIT_KEY") or _dev_or_refuse(environment, f"{service}-audit.key"),
            stall_seconds=float(env.get("TSUNAGU_STALL_SECONDS", "60")),
            max_loop_failures=int(env.get("TSUNAGU_MAX_LOOP_FAILURES", "10")),
        )
        return replace(settings, **overrides) if overrides else settings

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


def _dev_or_refuse(environment: str, name: str) -> str:
    if environment not in DEV_ENVIRONMENTS:
        raise RuntimeError(f"TSUNAGU_ENV={environment}: set the secret instead of using {name}")
    return _dev_secret(name, 32)
