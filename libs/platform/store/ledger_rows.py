"""The creations ledger's rows (creations.py says what the ledger is for): a table per service, a
row per created resource, and what a creation command knows of its request before it runs (the
keyed digests of its Idempotency-Key and of the request)."""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Column, Integer, MetaData, String, Table

from libs.domain.contracts import ClientKey, derived_id, idempotency_digest
from libs.domain.errors import InvalidInput


class IdempotencyKeyReused(InvalidInput):
    """The Idempotency-Key was used before with another request: answering the first resource
    would tell the client its second request was done, when it was not."""

    problem = "idempotency-key-reused"
    title = "The Idempotency-Key was used for another request"
    status = 422


def creations_table(app_name: str) -> Table:
    return Table(
        f"{app_name}_creations", MetaData(),
        # A resource's id may be an aggregate's too (a trainee's is the supporter's): unique per kind.
        Column("resource_id", String(36), primary_key=True),
        Column("kind", String(40), primary_key=True),
        Column("aggregate_id", String(36), nullable=False),
        Column("version", Integer, nullable=False),  # the aggregate's version once created
        Column("key_digest", String(64), unique=True),  # NULL: created without an Idempotency-Key
        Column("request_digest", String(64)),
    )


@dataclass(frozen=True)
class LedgerRow:
    resource_id: str
    kind: str
    aggregate_id: str
    version: int
    key_digest: str | None
    request_digest: str | None


@dataclass(frozen=True)
class Creation:
    """What a creation command knows of its request before it runs: the kind of resource, the
    scope its keys deduplicate in (an org, a case), and the digests of the key and of the request."""

    kind: str
    scope: str
    key: ClientKey | None
    key_digest: str | None
    request_digest: str | None

    @classmethod
    def of(cls, service: str, kind: str, scope: UUID | str, key: ClientKey | None,
           request: dict[str, Any]) -> Creation:
        if key is None:
            return cls(kind, str(scope), None, None, None)
        canonical = _REQUEST.encode(request)
        return cls(kind, str(scope), key,
                   idempotency_digest(service, f"{kind}/{scope}", key.key, key.secret),
                   idempotency_digest(service, f"request/{kind}/{scope}", canonical, key.secret))

    @property
    def legacy_id(self) -> UUID | None:
        """The id a creation with this key was given before the ledger, derived from the key itself
        (the only place that formula is kept): a retry of it still finds it."""
        return derived_id(self.kind, self.scope, self.key.key) if self.key else None

    def legacy_in(self, held: Container[Any]) -> UUID | None:
        """The legacy id, if the aggregate holds it (as an id, or by its string as some keep ids)."""
        legacy = self.legacy_id
        return legacy if legacy is not None and (legacy in held or str(legacy) in held) else None

    def new_id(self) -> UUID:
        """The new resource's id: derived from the keyed digest (a retry that lost no race derives
        the same; the key itself cannot be confirmed from the id), random without a key."""
        return derived_id(self.kind, self.key_digest) if self.key_digest else uuid4()

    def row(self, resource_id: UUID | str, aggregate_id: UUID | str, version: int) -> LedgerRow:
        return LedgerRow(str(resource_id), self.kind, str(aggregate_id), version, self.key_digest, self.request_digest)


def _canonical(value: Any) -> str:
    """How a request value is digested: an instant in UTC (the same moment written with another
    offset is the same request), anything else as its text."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    return str(value)


# How a request is written to be digested: json.dumps(request, sort_keys=True, default=_canonical,
# ensure_ascii=False), with the encoder made once (dumps makes one per call with these arguments:
# an import digests 500 requests).
_REQUEST = json.JSONEncoder(sort_keys=True, default=_canonical, ensure_ascii=False)
