"""What every published event shares: its context, type name, schema version and sealed fields.

Event classes of each context (libs/domain/<context>.py) subclass their aggregate's base, which
writes AGGREGATE once (e.g. `CaseEvent`, and CONTEXT once through `_Intake`) but is no event
itself, and `Aggregate.Event` or `Aggregate.Created` from eventsourcing. Aggregates in the
services re-use the event classes with `@event(...)`, so producer and consumers speak one contract.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, SafeUUID, uuid5

TYPE_PREFIX = "jp.tsunagu"
# Namespace of derived ids (CloudEvents ids, idempotent aggregate ids).
TSUNAGU_NS = uuid5(NAMESPACE_URL, "https://tsunagu.jp/ns")


class Contract:
    """Mix-in of class attributes describing a published event."""

    CONTEXT: ClassVar[str] = ""
    # The aggregate type that records the event (third token of its NATS subject).
    AGGREGATE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1
    # Fields holding sealed values (libs/platform/sealing): ciphertext, never plaintext PII.
    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ()
    # Privacy records (APPI 第27条〜第30条), read generically by libs/platform/records:
    # PROVISION: personal data given to a third party — which data fields hold the recipient, the
    #   items, the consent ("basis") and the date; where a provision may rest on a legal basis
    #   instead (libs/domain/legal_bases), "legal_basis" and "statute" name its fields; "entries"
    #   when one event provides several people (a roster), each entry naming "subject" and "basis".
    # RECEIPT: the same, on the receiving side. CONSENT: "given" or "withdrawn" and its id field.
    # SUBJECT_FIELD: on a created event, the field naming the person when the aggregate is not.
    # ABOUT_FIELD: on any event of an aggregate about many people (a training course), the field
    #   naming the one person this event is about: disclosed to them, the aggregate's other events not.
    PROVISION: ClassVar[dict[str, str] | None] = None
    RECEIPT: ClassVar[dict[str, str] | None] = None
    CONSENT: ClassVar[tuple[str, str] | None] = None
    SUBJECT_FIELD: ClassVar[str | None] = None
    ABOUT_FIELD: ClassVar[str | None] = None


def contract_of(event_cls: type) -> type[Contract] | None:
    """The libs/domain contract class behind an event class (the aggregate subclasses it)."""
    for klass in event_cls.__mro__:
        if klass.__module__.startswith("libs.domain.") and issubclass(klass, Contract) and klass.CONTEXT:
            return klass
    return None


def event_type(contract: type[Contract]) -> str:
    """CloudEvents `type`: jp.tsunagu.<context>.<EventName>.v<N>."""
    return f"{TYPE_PREFIX}.{contract.CONTEXT}.{contract.__name__}.v{contract.SCHEMA_VERSION}"


def event_id(originator_id: UUID | str, version: int) -> str:
    """Stable event id from aggregate id and version: re-publishing gives the same id."""
    return str(uuid5(TSUNAGU_NS, f"{originator_id}/{version}"))


def idempotency_digest(service: str, scope: str, key: str, secret: bytes | None) -> str:
    """What an event records of a client's Idempotency-Key: HMAC-SHA-256 (hex), under the service's
    own secret (<SERVICE>_IDEMPOTENCY_KEY), of the service, the scope it deduplicates in (an org, a
    centre) and the key. A client may type anything in the key (up to 200 characters, names
    included), and a stream cannot be erased, so the string never travels; without the secret a
    guessed key cannot be confirmed against the digest, and a retry still digests the same.

    `secret=None` gives the unkeyed SHA-256 that events recorded before the digest was keyed carry
    (and that upcasters of v1 events, which hold no secret, compute): used only to recognise a retry
    of such an event, never recorded anew."""
    message = "\x1f".join((service, scope, key)).encode()
    if secret is None:
        return hashlib.sha256(message).hexdigest()
    inner, outer = _keyed(secret)
    keyed = inner.copy()
    keyed.update(message)
    done = outer.copy()
    done.update(keyed.digest())
    return done.hexdigest()


@lru_cache(maxsize=8)  # a service's secret, and the earlier ones a test or a rotation made
def _keyed(secret: bytes) -> tuple[Any, Any]:
    """HMAC-SHA-256 keyed with `secret` (RFC 2104) as its two SHA-256 states, each copied for every
    digest: the same digest as hmac.new(secret, message), without hashing the key's two blocks again
    for each, and a third cheaper than copying an hmac.HMAC (whose copy and hexdigest allocate
    OpenSSL HMAC contexts: issue 15, an import digests two messages per consultation)."""
    block = hashlib.sha256().block_size
    key = hashlib.sha256(secret).digest() if len(secret) > block else secret
    key = key.ljust(block, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


_IPAD = bytes(x ^ 0x36 for x in range(256))  # RFC 2104's pads, as translation tables
_OPAD = bytes(x ^ 0x5C for x in range(256))


@dataclass(frozen=True)
class ClientKey:
    """A client's Idempotency-Key together with the secret of the service that received it."""

    key: str
    secret: bytes = field(repr=False)

    def digests(self, service: str, scope: str) -> tuple[str, str]:
        """The keyed digest a new event records, then the unkeyed one of events recorded before:
        a retry matches either."""
        return (idempotency_digest(service, scope, self.key, self.secret),
                idempotency_digest(service, scope, self.key, None))


def derived_id(*parts: Any) -> UUID:
    """A deterministic aggregate id, e.g. from a tenant and an Idempotency-Key."""
    # uuid5(TSUNAGU_NS, name): the same UUID, without making the namespace's bytes again and without
    # UUID.__init__'s checks of its five ways to be called (an import derives one per item, issue 15):
    # the digest's first 16 bytes with the version and variant bits set as uuid5 sets them.
    name = "/".join(str(p) for p in parts)
    digest = int.from_bytes(hashlib.sha1(_TSUNAGU_NS_BYTES + name.encode()).digest()[:16])
    made = _new(UUID)
    _set(made, "int", (digest & _VERSION_5_CLEARS) | _VERSION_5_SETS)
    _set(made, "is_safe", SafeUUID.unknown)
    return made


_TSUNAGU_NS_BYTES = TSUNAGU_NS.bytes
_new, _set = object.__new__, object.__setattr__
_VERSION_5_CLEARS = ~((0xC000 << 48) | (0xF000 << 64))  # the variant's and the version's bits
_VERSION_5_SETS = (0x8000 << 48) | (5 << 76)  # RFC 4122's variant, version 5
