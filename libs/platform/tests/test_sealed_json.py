"""A sealed value's plaintext is its JSON (json.dumps, ensure_ascii=False, UTF-8), whoever writes
it: strings by orjson, anything else by json (privacy/sealed_values._json, issue 15)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from libs.platform.privacy.sealed_values import SubjectKeys

CASE = "6f1c2a34-0000-4000-8000-00000000000a"


def test_a_value_is_sealed_as_its_json_whoever_writes_it() -> None:
    key = AESGCM.generate_key(bit_length=256)
    keys = SubjectKeys({CASE: key}, 0)
    every_char = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    for value in ("山田 太郎", every_char, "", {"name": "山田", "notes": ["母親から電話相談"]}, None, 1.5, ["a", 2]):
        sealed = keys.seal(CASE, value)
        plain = AESGCM(key).decrypt(base64.b64decode(sealed["iv"]), base64.b64decode(sealed["ct"]), CASE.encode())
        assert plain == json.dumps(value, ensure_ascii=False).encode()


def test_a_string_json_cannot_write_in_utf_8_is_refused_as_before() -> None:
    keys = SubjectKeys({CASE: AESGCM.generate_key(bit_length=256)}, 0)
    with pytest.raises(UnicodeEncodeError):  # as json.dumps(...).encode() refuses it
        keys.seal(CASE, "\ud800")
