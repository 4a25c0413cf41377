"""Every event on the bus is signed by the service that published it, and consumers apply only
what its producer signed (issue 14: "consumers verify what they apply").

Each message's exact bytes (the CloudEvent JSON) are signed with the service's Ed25519 signing key
(the one that signs its audit checkpoints, `<SERVICE>_AUDIT_KEY`) into the header
`Tsunagu-Signature`: when its event is saved, in the same transaction (messaging/outbox.py), or
by the relay when it renders the event itself. A message prepared at save time with a key that is
no longer the relay's (a rotation came between save and publish) is signed again by the relay
(outbox rows name their key), so what is published is signed by the current key.
A consumer checks it against the producer's public key, pinned in its own settings
(`<SERVICE>_PUBLIC_KEY`; `tsunagu keys public` prints it), never learnt from the bus.
A message without a valid signature is forged or damaged: it is dead-lettered at once, never
applied and never retried, and the open dead letter alerts (deploy/monitoring/alerts.yaml).
NATS permissions already keep other users off a service's subjects; the signature also holds
against anyone who gets past them (a leaked credential, a tampered server or stream copy).

Domain separation: the one key signs three kinds of thing — events, audit checkpoints
(libs/platform/audit/log.py) and consent receipts (libs/platform/privacy/receipts.py) — and each
signature covers a context naming its kind before the payload (`EVENT`, `CHECKPOINT`, `RECEIPT`
below, `signed_message`), so a signature of one kind never verifies as another. Signatures made
before the contexts (over the bare payload) still verify, but only over a payload that can be of
that kind alone (`legacy_shape_ok`): an event a CloudEvent JSON object (`specversion`), a
checkpoint its `tsunagu-checkpoint/` text, a receipt a JSON object without `specversion`; the
three shapes exclude each other, and every context-prefixed message starts with `tsunagu/`, which
none of them does, so no bare signature of one kind, old or new, verifies as another.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HEADER = "Tsunagu-Signature"
PREFIX = "ed25519:"

# What each kind of signature covers before its payload (domain separation).
EVENT = b"tsunagu/event/v1\0"
CHECKPOINT = b"tsunagu/checkpoint/v1\0"
RECEIPT = b"tsunagu/receipt/v1\0"
CONTEXTS = (EVENT, CHECKPOINT, RECEIPT)


def signed_message(context: bytes, payload: bytes) -> bytes:
    """The bytes a signature of this kind covers: its context, then the payload."""
    if context not in CONTEXTS:
        raise ValueError(f"unknown signature context {context!r}")
    return context + payload


def legacy_shape_ok(context: bytes, payload: bytes) -> bool:
    """Whether a signature made before contexts (over the bare payload) may be checked against
    this payload: only when the payload has the shape of this kind and of no other."""
    if context == CHECKPOINT:
        return payload.startswith(b"tsunagu-checkpoint/")
    if not payload.lstrip().startswith(b"{"):
        return False
    try:
        document = json.loads(payload)
    except ValueError:
        return False
    if not isinstance(document, dict):
        return False
    return ("specversion" in document) == (context == EVENT)


def verify_with(keys: Iterable[Ed25519PublicKey], signature: bytes, context: bytes, payload: bytes) -> bool:
    """Whether one of the keys signed the payload as this kind: with its context, or (made before
    contexts) bare, when the payload's shape allows it (checked only then: most are current)."""
    keys = list(keys)
    if _any_verifies(keys, signature, signed_message(context, payload)):
        return True
    return legacy_shape_ok(context, payload) and _any_verifies(keys, signature, payload)


def _any_verifies(keys: list[Ed25519PublicKey], signature: bytes, message: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


def public_key_hex(seed_hex: str) -> str:
    """The public key of a signing key given as its 32-byte seed in hex."""
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)[:32])
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


class EventSigner:
    def __init__(self, seed_hex: str) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)[:32])
        # Which key this is (the head of its public key): a message prepared with another key
        # (before a rotation) is signed again rather than sent with the old signature.
        self.key_id = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()[:16]

    def header(self, body: bytes) -> str:
        return PREFIX + base64.urlsafe_b64encode(self._key.sign(signed_message(EVENT, body))).decode().rstrip("=")


class ForgedEvent(Exception):
    """A message its producer did not sign."""


class EventVerifier:
    """Checks messages against the producers' pinned public keys, by producing service."""

    def __init__(self, public_keys: Mapping[str, str]) -> None:
        # Several keys of one producer, comma-separated: the current one and those it signed with
        # before a rotation of its signing key (the stream keeps what they signed).
        self._keys = {service: [Ed25519PublicKey.from_public_bytes(bytes.fromhex(k.strip()))
                                for k in keys.split(",") if k.strip()]
                      for service, keys in public_keys.items() if keys and keys.strip()}

    def knows(self, service: str) -> bool:
        return service in self._keys

    def check(self, service: str, body: bytes, headers: Mapping[str, str] | None) -> None:
        signature = (headers or {}).get(HEADER)
        if not signature:
            raise ForgedEvent(f"not signed: no {HEADER} header")
        if not signature.startswith(PREFIX):
            raise ForgedEvent(f"{HEADER} is not an ed25519 signature")
        if service not in self._keys:
            raise ForgedEvent(f"no public key of {service} to check it with")
        try:
            raw = base64.urlsafe_b64decode(signature[len(PREFIX):] + "=" * (-len(signature) % 4))
        except ValueError:
            raise ForgedEvent(f"the signature is not {service}'s") from None
        if not verify_with(self._keys[service], raw, EVENT, body):
            raise ForgedEvent(f"the signature is not {service}'s")
