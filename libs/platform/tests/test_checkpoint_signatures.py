"""Checkpoint signatures: v2 signs the chain head too, and cannot be passed off as v1."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.platform.audit.log import signed_text, verify_signature
from libs.platform.messaging.signing import CHECKPOINT, signed_message

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key().public_bytes_raw().hex()
CP = {"tree_size": 7, "root_hash": "aa" * 32, "made_at": "2026-01-05T00:00:00+00:00", "chainhash": "bb" * 32}


def _signed(cp: dict) -> dict:
    text = signed_text("intake", cp["tree_size"], cp["root_hash"], cp["made_at"], cp.get("chainhash"))
    return {**cp, "signature": KEY.sign(signed_message(CHECKPOINT, text)).hex()}


def test_a_v2_checkpoint_verifies_and_a_changed_chain_head_does_not():
    cp = _signed(CP)
    assert verify_signature(PUBLIC, "intake", cp)
    assert not verify_signature(PUBLIC, "intake", {**cp, "chainhash": "cc" * 32})
    assert not verify_signature(PUBLIC, "registry", cp)


def test_a_v2_checkpoint_stripped_of_its_chain_head_does_not_verify_as_v1():
    cp = _signed(CP)
    assert not verify_signature(PUBLIC, "intake", {**cp, "chainhash": None})
    v1 = _signed({**CP, "chainhash": None})
    assert verify_signature(PUBLIC, "intake", v1)  # checkpoints made before chain heads still verify


def test_a_malformed_key_or_signature_is_a_failed_verification_not_an_error():
    cp = _signed(CP)
    assert not verify_signature("zz", "intake", cp)
    assert not verify_signature(PUBLIC, "intake", {**cp, "signature": "00"})
