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
    # The new resource's id, made with its batch's (`of_batch`); None: made by `new_id` alone.
    made_id: UUID | None = None

    @classmethod
    def of(cls, service: str, kind: str, scope: UUID | str, key: ClientKey | None,
           request: dict[str, Any]) -> Creation:
        if key is None:
            return cls(kind, str(scope), None, None, None)
        canonical = _REQUEST.encode(request)
        return cls(kind, str(scope), key,
                   idempotency_digest(service, f"{kind}/{scope}", key.key, key.secret),
                   idempotency_digest(service, f"request/{kind}/{scope}", canonical, key.secret))

    @classmethod
    def of_batch(cls, service: str, kind: str, scope: UUID | str, key: ClientKey | None, request: dict[str, Any],
                 count: int) -> list[Creation]:
        """The creations of one request's `count` items (an import's consultations), under its one
        key and its one request (which holds every item: the key sent again with any other request
        is refused for each item), digested once. Each has its own key digest and its own new id,
        made so that one batch's ledger rows lie together in the table's two unique indexes
        (key_digest and the resource's id): item n's key digest is the key's digest's first 56 hex
        digits and n (8 hex digits), and its new id the id `new_id` derives from the key's digest
        with n in its last 32 bits (a random id's without a key). Digests and ids drawn apart put
        each of a batch's 500 rows on an index page of its own once the ledger is larger than a few
        hundred pages, and the commit wrote every page it touched to the WAL: 2 × ~300 pages an
        import at 30,000 rows, growing with the ledger; and digesting each item's request and
        deriving each id apart was a tenth of an import (issue 15). Still unique: the 56 digits are
        a keyed digest of this key alone (224 bits), the id's other 90 bits derived from it too
        (or random), and n tells the items apart; a clash would be refused by the save, never
        overwritten (both indexes are unique)."""
        if key is None:
            ids = uuid4().int  # one draw for the batch
            return [cls(kind, str(scope), None, None, None, _nth(ids, n)) for n in range(count)]
        batch = cls.of(service, kind, scope, ClientKey(f"{key.key}\x00batch", key.secret), request)
        assert batch.key_digest is not None
        prefix, ids = batch.key_digest[:56], batch.new_id().int
        return [cls(kind, str(scope), key, f"{prefix}{n:08x}", batch.request_digest, _nth(ids, n))
                for n in range(count)]

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
        the same; the key itself cannot be confirmed from the id), random without a key; made with
        its batch's when it is one of a batch (`of_batch`)."""
        if self.made_id is not None:
            return self.made_id
        return derived_id(self.kind, self.key_digest) if self.key_digest else uuid4()

    def row(self, resource_id: UUID | str, aggregate_id: UUID | str, version: int) -> LedgerRow:
        return LedgerRow(str(resource_id), self.kind, str(aggregate_id), version, self.key_digest, self.request_digest)


def _nth(ids: int, n: int) -> UUID:
    """A batch's id with n in its last 32 bits (the node's: its version and variant bits kept)."""
    return UUID(int=(ids & _ABOVE_PLACE) | n)


_ABOVE_PLACE = ~((1 << 32) - 1) & ((1 << 128) - 1)


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
