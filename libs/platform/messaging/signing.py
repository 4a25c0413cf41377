"""Every event on the bus is signed by the service that published it, and consumers apply only
what its producer signed (issue 14: "consumers verify what they apply").

The relay signs the exact bytes of each message (the CloudEvent JSON) with the service's Ed25519
signing key — the one that signs its audit checkpoints (`<SERVICE>_AUDIT_KEY`) — into the header
`Tsunagu-Signature`. A consumer checks it against the producer's public key, pinned in its own
settings (`<SERVICE>_PUBLIC_KEY`; `tsunagu keys public` prints it), never learnt from the bus.
A message without a valid signature is forged or damaged: it is dead-lettered at once, never
applied and never retried, and the open dead letter alerts (deploy/monitoring/alerts.yaml).
NATS permissions already keep other users off a service's subjects; the signature also holds
against anyone who gets past them (a leaked credential, a tampered server or stream copy).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HEADER = "Tsunagu-Signature"
PREFIX = "ed25519:"


def public_key_hex(seed_hex: str) -> str:
    """The public key of a signing key given as its 32-byte seed in hex."""
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)[:32])
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


class EventSigner:
    def __init__(self, seed_hex: str) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)[:32])

    def header(self, body: bytes) -> str:
        return PREFIX + base64.urlsafe_b64encode(self._key.sign(body)).decode().rstrip("=")


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
        for key in self._keys[service]:
            try:
                key.verify(raw, body)
                return
            except (InvalidSignature, ValueError):
                continue
        raise ForgedEvent(f"the signature is not {service}'s")
