"""A small honest log of a service as a relay and its audit log would publish it: chained
CloudEvents with leaf hashes, and one v2 checkpoint signed over them (for tests that have a bus
but no service, like the loopback cluster of test_deploy.py)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from uuid import uuid4

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.platform.audit import merkle
from libs.platform.audit.log import signed_text
from libs.platform.messaging.cloudevents import GENESIS, Envelope
from libs.platform.messaging.signing import CHECKPOINT, signed_message


def signed_log(service: str, count: int) -> tuple[list[Envelope], dict, str]:
    """(envelopes in order, the checkpoint over all of them, the signing key's public hex)."""
    chain, envelopes = GENESIS, []
    for sequence in range(1, count + 1):
        envelope = Envelope(
            id=str(uuid4()), source=f"/tsunagu/{service}", type=f"jp.tsunagu.{service}.Witnessed.v1",
            subject=str(uuid4()), time=datetime.now(UTC).isoformat(), tenant="13100", sequence=sequence,
            aggregate="Witnessed", data={"n": sequence},
            leafhash=hashlib.sha256(f"stored event {sequence}".encode()).hexdigest(),
        ).chained(chain)
        chain = envelope.chainhash
        envelopes.append(envelope)
    key = Ed25519PrivateKey.generate()
    root = merkle.root([bytes.fromhex(e.leafhash) for e in envelopes]).hex()
    made_at = datetime.now(UTC).isoformat()
    signature = key.sign(signed_message(CHECKPOINT, signed_text(service, count, root, made_at, chain))).hex()
    checkpoint = {"tree_size": count, "root_hash": root, "made_at": made_at, "signature": signature, "chainhash": chain}
    return envelopes, checkpoint, key.public_key().public_bytes_raw().hex()
