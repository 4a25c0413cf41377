"""Events signed by their producer, checked by consumers (libs/platform/messaging/signing.py)."""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from libs.platform.audit.log import signed_text, verify_signature
from libs.platform.messaging.cloudevents import canonical
from libs.platform.messaging.signing import (
    CHECKPOINT,
    EVENT,
    HEADER,
    RECEIPT,
    EventSigner,
    EventVerifier,
    ForgedEvent,
    public_key_hex,
    signed_message,
)
from libs.platform.privacy.receipts import verify_receipt

INTAKE, OTHER = os.urandom(32).hex(), os.urandom(32).hex()
BODY = b'{"specversion":"1.0","type":"jp.tsunagu.intake.CaseOpened.v1","data":{"age_group":"adult"}}'


@pytest.fixture
def verifier() -> EventVerifier:
    return EventVerifier({"intake": public_key_hex(INTAKE), "registry": public_key_hex(OTHER)})


def test_a_body_signed_by_its_producer_passes(verifier):
    verifier.check("intake", BODY, {HEADER: EventSigner(INTAKE).header(BODY), "Nats-Msg-Id": "x"})


@pytest.mark.parametrize("headers, why", [
    (None, "not signed"),
    ({}, "not signed"),
    ({HEADER: ""}, "not signed"),
    ({HEADER: "rsa:abc"}, "not an ed25519 signature"),
    ({HEADER: "ed25519:!!!"}, "is not intake's"),
    ({HEADER: "ed25519:" + "A" * 86}, "is not intake's"),
    ({HEADER: EventSigner(OTHER).header(BODY)}, "is not intake's"),  # another service's key
    ({HEADER: EventSigner(INTAKE).header(BODY + b" ")}, "is not intake's"),  # another body
])
def test_anything_else_is_a_forged_event(verifier, headers, why):
    with pytest.raises(ForgedEvent, match=why):
        verifier.check("intake", BODY, headers)


def test_a_changed_body_fails_its_signature(verifier):
    signature = EventSigner(INTAKE).header(BODY)
    with pytest.raises(ForgedEvent):
        verifier.check("intake", BODY.replace(b"adult", b"youth"), {HEADER: signature})


def test_a_producer_with_no_pinned_key_is_refused(verifier):
    with pytest.raises(ForgedEvent, match="no public key of dispatch"):
        verifier.check("dispatch", BODY, {HEADER: EventSigner(INTAKE).header(BODY)})
    assert verifier.knows("intake") and not verifier.knows("dispatch")


def test_after_a_signing_key_rotation_both_keys_check_what_each_signed():
    new = os.urandom(32).hex()
    verifier = EventVerifier({"intake": f"{public_key_hex(new)}, {public_key_hex(INTAKE)}"})
    for seed in (new, INTAKE):
        verifier.check("intake", BODY, {HEADER: EventSigner(seed).header(BODY)})
    with pytest.raises(ForgedEvent):
        verifier.check("intake", BODY, {HEADER: EventSigner(OTHER).header(BODY)})



# -- domain separation: one key signs events, checkpoints and consent receipts -----------------

KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(INTAKE))
CP: dict = {"tree_size": 7, "root_hash": "aa" * 32, "made_at": "2026-01-05T00:00:00+00:00", "chainhash": "bb" * 32}
TEXT = signed_text("intake", 7, "aa" * 32, "2026-01-05T00:00:00+00:00", "bb" * 32)


def _header(signature: bytes) -> dict[str, str]:
    return {HEADER: "ed25519:" + base64.urlsafe_b64encode(signature).decode().rstrip("=")}


def test_a_checkpoint_signature_never_verifies_as_an_event_nor_an_event_signature_as_a_checkpoint():
    verifier = EventVerifier({"intake": public_key_hex(INTAKE)})
    checkpoint_signature = KEY.sign(signed_message(CHECKPOINT, TEXT))
    assert verify_signature(public_key_hex(INTAKE), "intake", {**CP, "signature": checkpoint_signature.hex()})
    # Published as a message whose body is the checkpoint's text, with or without a context:
    for body in (TEXT, signed_message(CHECKPOINT, TEXT), signed_message(EVENT, TEXT)):
        with pytest.raises(ForgedEvent):
            verifier.check("intake", body, _header(checkpoint_signature))
    event_signature = KEY.sign(signed_message(EVENT, BODY))
    verifier.check("intake", BODY, _header(event_signature))
    assert not verify_signature(public_key_hex(INTAKE), "intake", {**CP, "signature": event_signature.hex()})


def test_signatures_made_before_contexts_still_verify_as_their_own_kind_only():
    # History on the stream and kept checkpoints were signed over the bare payload.
    verifier = EventVerifier({"intake": public_key_hex(INTAKE)})
    verifier.check("intake", BODY, _header(KEY.sign(BODY)))
    assert verify_signature(public_key_hex(INTAKE), "intake", {**CP, "signature": KEY.sign(TEXT).hex()})
    with pytest.raises(ForgedEvent):  # a checkpoint's text is no CloudEvent
        verifier.check("intake", TEXT, _header(KEY.sign(TEXT)))
    assert not verify_receipt(public_key_hex(INTAKE), {"receipt": json.loads(BODY), "signature": KEY.sign(BODY).hex()})


def test_a_consent_receipt_signature_never_verifies_as_an_event():
    # A receipt is handed to the person; even one shaped like a CloudEvent cannot be published as one.
    receipt = json.loads(BODY)
    signature = KEY.sign(signed_message(RECEIPT, canonical(receipt)))
    assert verify_receipt(public_key_hex(INTAKE), {"receipt": receipt, "signature": signature.hex()})
    assert not verify_receipt(public_key_hex(OTHER), {"receipt": receipt, "signature": signature.hex()})
    with pytest.raises(ForgedEvent):
        EventVerifier({"intake": public_key_hex(INTAKE)}).check("intake", canonical(receipt), _header(signature))
