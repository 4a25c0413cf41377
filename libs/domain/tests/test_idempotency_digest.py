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


def test_a_secret_of_any_length_gives_the_hmac_of_its_message() -> None:
    """Keys longer than SHA-256's block are hashed first, shorter ones padded (RFC 2104), as hmac does."""
    for length in (0, 1, 31, 32, 63, 64, 65, 200):
        secret = os.urandom(length)
        expected = hmac.new(secret, "\x1f".join(("intake", "s", "k")).encode(), hashlib.sha256).hexdigest()
        assert idempotency_digest("intake", "s", "k", secret) == expected


def test_a_derived_id_is_uuid5_of_its_parts_in_the_tsunagu_namespace() -> None:
    """contracts.derived_id makes the UUID itself (issue 15): the very uuid5, every field of it."""
    import random
    from uuid import UUID, uuid5

    from libs.domain.contracts import TSUNAGU_NS, derived_id

    rng = random.Random(15)
    for _ in range(2000):
        text = "".join(chr(rng.randint(32, 0x3000)) for _ in range(rng.randint(0, 80)))
        parts = [rng.choice(["consultation", "case", "相談", ""]), text, rng.randint(0, 10**6)]
        made, expected = derived_id(*parts), uuid5(TSUNAGU_NS, "/".join(str(p) for p in parts))
        assert made == expected and type(made) is UUID
        assert (str(made), made.version, made.variant, made.is_safe, hash(made)) == \
            (str(expected), expected.version, expected.variant, expected.is_safe, hash(expected))
