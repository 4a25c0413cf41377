"""OpenAPI documents of the services (openapi/<service>.yaml) and the AsyncAPI document of the
event streams (openapi/asyncapi.yaml), generated from the code; CI checks they are current."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import yaml

from libs.platform.settings import Settings
from libs.platform.tools.asyncapi import asyncapi_document

ROOT = Path(__file__).resolve().parents[3]
OPENAPI_DIR = ROOT / "openapi"
SERVICES = ("intake", "registry", "dispatch", "reporting")


def _offline_settings(service: str) -> Settings:
    # Building an app connects nothing; these values are never used to reach anything.
    return Settings(service=service, port=0, database_url="sqlite://", db_schema=None,
                    nats_url="nats://127.0.0.1:1", jwt_secret="unused", jwks_url=None,
                    master_key_hex="00" * 32)


def openapi_of(service: str) -> dict[str, Any]:
    module = importlib.import_module(f"services.{service}.bootstrap")
    return module.create_app(_offline_settings(service)).openapi()


def dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def documents() -> dict[Path, str]:
    docs = {OPENAPI_DIR / f"{s}.yaml": dump(openapi_of(s)) for s in SERVICES}
    docs[OPENAPI_DIR / "asyncapi.yaml"] = dump(asyncapi_document())
    return docs


def write_documents() -> list[Path]:
    OPENAPI_DIR.mkdir(exist_ok=True)
    written = []
    for path, text in documents().items():
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_documents() -> list[Path]:
    return [p for p, text in documents().items() if not p.exists() or p.read_text(encoding="utf-8") != text]
