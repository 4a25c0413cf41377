"""Events signed by their producer, checked by consumers (libs/platform/messaging/signing.py)."""

from __future__ import annotations

import os

import pytest

from libs.platform.messaging.signing import HEADER, EventSigner, EventVerifier, ForgedEvent, public_key_hex

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
