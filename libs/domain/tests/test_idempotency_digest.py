"""The keyed digest of an Idempotency-Key (contracts.idempotency_digest) is HMAC-SHA-256 of the
service, scope and key under the service's secret: computed from a keyed HMAC copied for each
message (issue 15), it stays the digest every ledger row and event already holds."""

from __future__ import annotations

import hashlib
import hmac
import os

from libs.domain.contracts import idempotency_digest


def test_a_digest_is_the_hmac_of_its_message_whichever_secrets_came_before() -> None:
    secrets = [os.urandom(32) for _ in range(12)]  # more than the keyed HMACs kept
    for round_ in range(2):
        for n, secret in enumerate(secrets):
            key = f"キー-{round_}-{n}"
            expected = hmac.new(secret, "\x1f".join(("intake", "consultation/c", key)).encode(),
                                hashlib.sha256).hexdigest()
            assert idempotency_digest("intake", "consultation/c", key, secret) == expected
    assert idempotency_digest("intake", "s", "k", None) == hashlib.sha256(b"intake\x1fs\x1fk").hexdigest()
