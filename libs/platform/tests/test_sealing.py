"""PII sealing: per-subject AES-256-GCM data keys, wrapped by a master key, in a SQL table."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select

from libs.platform.privacy.keystore import MasterKeyMissing, subject_keys
from libs.platform.privacy.sealed_values import ALG, ERASED, SubjectForgotten, is_sealed
from libs.platform.privacy.sealing import Sealer

CASE_A = "6f1c2a34-0000-4000-8000-00000000000a"
CASE_B = "6f1c2a34-0000-4000-8000-00000000000b"
NAME = "山田 太郎"
DETAILS = {
    "name": "山田 太郎",
    "kana": "ヤマダ タロウ",
    "phone": "03-1234-5678",
    "address": "東京都千代田区丸の内一丁目",
    "notes": ["母親から電話相談", "本人は外出困難"],
    "age": 34,
}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sqlalchemy.Engine]:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'k.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def master_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def sealer(engine: sqlalchemy.Engine, master_key: bytes) -> Sealer:
    return Sealer(engine, master_key)


def _ct(sealed: dict[str, str]) -> bytes:
    return base64.b64decode(sealed["ct"])


def _with_first_char_changed(b64: str) -> str:
    # The first base64 character carries the top 6 bits of the first byte, so changing it
    # always changes the decoded bytes (unlike the last one, whose low bits may be padding).
    first = "B" if b64[0] == "A" else "A"
    return first + b64[1:]


def _stored_row(engine: sqlalchemy.Engine, subject: str):
    with engine.connect() as conn:
        return conn.execute(select(subject_keys).where(subject_keys.c.subject == subject)).first()


# -- round trips ----------------------------------------------------------------------------

def test_a_japanese_string_round_trips_through_seal_and_open(sealer: Sealer) -> None:
    sealed = sealer.seal(CASE_A, NAME)
    assert sealer.open(sealed) == NAME


def test_a_dict_of_japanese_personal_details_round_trips(sealer: Sealer) -> None:
    sealed = sealer.seal(CASE_A, DETAILS)
    assert sealer.open(sealed) == DETAILS


def test_a_sealed_value_names_its_algorithm_and_subject_and_is_recognised(sealer: Sealer) -> None:
    sealed = sealer.seal(CASE_A, NAME)
    assert sealed["alg"] == ALG == "A256GCM"
    assert sealed["kid"] == CASE_A
    assert set(sealed) == {"alg", "kid", "iv", "ct"}
    assert len(base64.b64decode(sealed["iv"])) == 12
    assert is_sealed(sealed)


def test_a_plain_value_is_not_taken_for_a_sealed_one(sealer: Sealer) -> None:
    assert not is_sealed(NAME)
    assert not is_sealed(DETAILS)
    assert not is_sealed({"alg": "none", "ct": "x"})
    with pytest.raises(ValueError, match="not a sealed value"):
        sealer.open(DETAILS)  # type: ignore[arg-type]


def test_opening_nothing_gives_nothing(sealer: Sealer) -> None:
    assert sealer.open(None) is None


def test_a_sealed_value_survives_a_json_round_trip_as_in_an_event(sealer: Sealer) -> None:
    sealed = sealer.seal(CASE_A, DETAILS)
    assert sealer.open(json.loads(json.dumps(sealed))) == DETAILS


def test_a_new_sealer_with_the_same_master_key_opens_what_the_first_sealed(
    engine: sqlalchemy.Engine, master_key: bytes, sealer: Sealer
) -> None:
    sealed = sealer.seal(CASE_A, DETAILS)
    assert Sealer(engine, master_key).open(sealed) == DETAILS


def test_one_subject_keeps_one_data_key_across_seals(
    engine: sqlalchemy.Engine, sealer: Sealer
) -> None:
    sealer.seal(CASE_A, NAME)
    wrapped = _stored_row(engine, CASE_A).wrapped_key
    second = sealer.seal(CASE_A, "二回目")
    assert _stored_row(engine, CASE_A).wrapped_key == wrapped
    assert sealer.open(second) == "二回目"


# -- confidentiality ------------------------------------------------------------------------

def test_the_ciphertext_does_not_contain_the_plaintext(sealer: Sealer) -> None:
    sealed = sealer.seal(CASE_A, NAME)
    ct = _ct(sealed)
    assert NAME.encode() not in ct
    assert "山田".encode() not in ct
    assert json.dumps(NAME, ensure_ascii=False).encode() not in ct


def test_the_json_of_a_sealed_dict_contains_none_of_its_personal_details(sealer: Sealer) -> None:
    sealed = sealer.seal(CASE_A, DETAILS)
    as_json = json.dumps(sealed, ensure_ascii=False)
    ct = _ct(sealed)
    for secret in ("山田", "ヤマダ", "03-1234-5678", "千代田区", "外出困難", "name", "phone"):
        assert secret not in as_json
        assert secret.encode() not in ct
    # Not even \u-escaped: json.dumps with ASCII escapes would spell 山 as \u5c71.
    assert "\\u5c71" not in json.dumps(sealed)


def test_two_seals_of_the_same_value_differ_because_the_iv_is_random(sealer: Sealer) -> None:
    first = sealer.seal(CASE_A, NAME)
    second = sealer.seal(CASE_A, NAME)
    assert first["iv"] != second["iv"]
    assert first["ct"] != second["ct"]
    assert sealer.open(first) == sealer.open(second) == NAME


def test_the_keys_table_holds_only_a_wrapped_key_never_the_raw_data_key(
    engine: sqlalchemy.Engine, master_key: bytes, sealer: Sealer
) -> None:
    sealed = sealer.seal(CASE_A, DETAILS)
    wrapped = _stored_row(engine, CASE_A).wrapped_key
    # IV (12) + the encrypted 32-byte key + GCM tag (16).
    assert len(wrapped) == 12 + 32 + 16
    # The stored bytes are not themselves a key that opens the value...
    for candidate in (wrapped[:32], wrapped[12:44], wrapped[-32:]):
        with pytest.raises(InvalidTag):
            AESGCM(candidate).decrypt(
                base64.b64decode(sealed["iv"]), _ct(sealed), CASE_A.encode()
            )
    # ...but unwrapping them with the master key gives the one that does.
    data_key = AESGCM(master_key).decrypt(wrapped[:12], wrapped[12:], CASE_A.encode())
    assert len(data_key) == 32
    assert data_key not in wrapped
    plaintext = AESGCM(data_key).decrypt(
        base64.b64decode(sealed["iv"]), _ct(sealed), CASE_A.encode()
    )
    assert json.loads(plaintext) == DETAILS


def test_each_subject_has_its_own_data_key(engine: sqlalchemy.Engine, sealer: Sealer) -> None:
    sealer.seal(CASE_A, NAME)
    sealer.seal(CASE_B, NAME)
    assert _stored_row(engine, CASE_A).wrapped_key != _stored_row(engine, CASE_B).wrapped_key


# -- integrity --------------------------------------------------------------------------------

def test_a_sealed_value_with_one_character_of_ciphertext_changed_fails_to_open(
    sealer: Sealer,
) -> None:
    sealed = sealer.seal(CASE_A, DETAILS)
    tampered = {**sealed, "ct": _with_first_char_changed(sealed["ct"])}
    assert _ct(tampered) != _ct(sealed)
    with pytest.raises(InvalidTag):
        sealer.open(tampered)


def test_a_sealed_value_with_its_iv_changed_fails_to_open(sealer: Sealer) -> None:
    sealed = sealer.seal(CASE_A, NAME)
    tampered = {**sealed, "iv": _with_first_char_changed(sealed["iv"])}
    with pytest.raises(InvalidTag):
        sealer.open(tampered)


def test_a_value_sealed_for_one_subject_cannot_be_passed_off_as_another_subjects(
    sealer: Sealer,
) -> None:
    sealed = sealer.seal(CASE_A, NAME)
    sealer.seal(CASE_B, "別人")
    with pytest.raises(InvalidTag):
        sealer.open({**sealed, "kid": CASE_B})


def test_a_sealer_with_another_master_key_cannot_open_values_on_the_same_database(
    engine: sqlalchemy.Engine, sealer: Sealer
) -> None:
    sealed = sealer.seal(CASE_A, DETAILS)
    intruder = Sealer(engine, os.urandom(32))
    with pytest.raises(MasterKeyMissing):
        intruder.open(sealed)
    with pytest.raises(MasterKeyMissing):
        intruder.seal(CASE_A, "上書き")
    with engine.begin() as conn:  # a row from before rows named their master: tried, and refused
        conn.execute(subject_keys.update().values(master=None))
    with pytest.raises(MasterKeyMissing):
        intruder.open(sealed)
    assert sealer.open(sealed) == DETAILS


def test_a_master_key_must_be_32_bytes(engine: sqlalchemy.Engine) -> None:
    for size in (0, 16, 24, 31, 33, 64):
        with pytest.raises(ValueError, match="32 bytes"):
            Sealer(engine, os.urandom(size))


# -- crypto-shredding -----------------------------------------------------------------------

def test_forgetting_a_subject_makes_its_values_read_as_erased(sealer: Sealer) -> None:
    name = sealer.seal(CASE_A, NAME)
    details = sealer.seal(CASE_A, DETAILS)
    sealer.forget(CASE_A)
    assert sealer.open(name) == ERASED
    assert sealer.open(details) == ERASED


def test_forgetting_one_subject_leaves_another_subject_readable(sealer: Sealer) -> None:
    a = sealer.seal(CASE_A, NAME)
    b = sealer.seal(CASE_B, DETAILS)
    sealer.forget(CASE_A)
    assert sealer.open(a) == ERASED
    assert sealer.open(b) == DETAILS
    assert sealer.open(sealer.seal(CASE_B, "追加")) == "追加"


def test_forgetting_destroys_the_stored_key_and_records_when(
    engine: sqlalchemy.Engine, sealer: Sealer
) -> None:
    sealer.seal(CASE_A, NAME)
    assert _stored_row(engine, CASE_A).forgotten_at is None
    sealer.forget(CASE_A)
    row = _stored_row(engine, CASE_A)
    assert row.wrapped_key is None
    assert row.forgotten_at is not None


def test_forgetting_is_idempotent(sealer: Sealer) -> None:
    sealed = sealer.seal(CASE_A, NAME)
    sealer.forget(CASE_A)
    sealer.forget(CASE_A)
    assert sealer.open(sealed) == ERASED


def test_a_forgotten_subject_stays_erased_for_a_new_sealer_with_the_same_master_key(
    engine: sqlalchemy.Engine, master_key: bytes, sealer: Sealer
) -> None:
    sealed = sealer.seal(CASE_A, NAME)
    sealer.forget(CASE_A)
    assert Sealer(engine, master_key).open(sealed) == ERASED


def test_sealing_again_for_a_forgotten_subject_is_refused(sealer: Sealer) -> None:
    sealer.seal(CASE_A, NAME)
    sealer.forget(CASE_A)
    with pytest.raises(SubjectForgotten) as caught:
        sealer.seal(CASE_A, "新しい相談内容")
    assert caught.value.status == 410
    assert caught.value.problem == "subject-erased"


def test_a_subject_forgotten_before_anything_was_sealed_for_it_cannot_be_sealed_later(
    engine: sqlalchemy.Engine, sealer: Sealer
) -> None:
    # e.g. a case opened without personal details, erased, then a consultation summary arrives
    sealer.forget(CASE_A)
    with pytest.raises(SubjectForgotten):
        sealer.seal(CASE_A, "新しい相談内容")
    row = _stored_row(engine, CASE_A)
    assert row.wrapped_key is None
    assert row.forgotten_at is not None


def test_opening_a_value_of_a_subject_with_no_key_row_reads_as_erased(
    engine: sqlalchemy.Engine, sealer: Sealer, master_key: bytes
) -> None:
    sealed = sealer.seal(CASE_A, NAME)
    with engine.begin() as conn:
        conn.execute(subject_keys.delete().where(subject_keys.c.subject == CASE_A))
    # A row deleted behind the sealers' back is no erasure (forget() is): a sealer that cached the
    # key keeps it; one started afterwards (a restart, another replica) finds none.
    assert Sealer(engine, master_key).open(sealed) == ERASED
