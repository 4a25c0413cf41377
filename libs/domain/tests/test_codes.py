"""全国地方公共団体コード: six digits, the last a check digit (weights 6..2, modulus 11)."""

from __future__ import annotations

from typing import Any

import pytest

from libs.domain.codes import (
    InvalidLgCode,
    check_digit,
    is_prefecture,
    prefecture_of,
    validate_lg_code,
    within,
)
from libs.domain.errors import DomainError, InvalidInput

# Real codes published by 総務省, each check digit worked by hand:
# weights 6,5,4,3,2 on the first five digits, check = (11 - sum % 11) % 10.
REAL_CODES = {
    "130001": "東京都",  # 6+15 = 21; 21 % 11 = 10; (11 - 10) % 10 = 1
    "131016": "千代田区",  # 6+15+4+0+2 = 27; 27 % 11 = 5; 11 - 5 = 6
    "011002": "札幌市",  # 0+5+4+0+0 = 9; 11 - 9 = 2
    "010006": "北海道",  # 0+5+0+0+0 = 5; 11 - 5 = 6
    "141003": "横浜市",  # 6+20+4+0+0 = 30; 30 % 11 = 8; 11 - 8 = 3
    "271004": "大阪市",  # 12+35+4+0+0 = 51; 51 % 11 = 7; 11 - 7 = 4
    "401307": "福岡市",  # 24+0+4+9+0 = 37; 37 % 11 = 4; 11 - 4 = 7
}
PREFECTURES = {"130001": "東京都", "010006": "北海道"}
MUNICIPALITIES = {c: n for c, n in REAL_CODES.items() if c not in PREFECTURES}


# -- check_digit ------------------------------------------------------------------------------

@pytest.mark.parametrize("code", sorted(REAL_CODES))
def test_the_check_digit_of_a_real_code_is_its_sixth_digit(code: str) -> None:
    assert check_digit(code[:5]) == int(code[5])


@pytest.mark.parametrize(
    ("first_five", "expected"),
    [
        ("00000", 1),  # sum 0: (11 - 0) % 10 = 1
        ("00006", 0),  # sum 12, 12 % 11 = 1: (11 - 1) % 10 = 0
        ("00001", 9),  # sum 2: 11 - 2 = 9
        ("10001", 3),  # sum 8: 11 - 8 = 3
        ("99999", 7),  # sum 180, 180 % 11 = 4: 11 - 4 = 7
    ],
)
def test_the_check_digit_is_eleven_minus_the_weighted_sum_mod_11_taken_mod_10(
    first_five: str, expected: int
) -> None:
    assert check_digit(first_five) == expected


def test_the_weights_run_six_down_to_two_from_the_first_digit() -> None:
    # A single 1 in position i contributes weight w_i, so the check digit is 11 - w_i.
    assert [check_digit("0" * i + "1" + "0" * (4 - i)) for i in range(5)] == [5, 6, 7, 8, 9]


def test_a_check_digit_needs_exactly_five_digits() -> None:
    with pytest.raises(ValueError):
        check_digit("1300")
    with pytest.raises(ValueError):
        check_digit("130010")


# -- validate_lg_code -------------------------------------------------------------------------

@pytest.mark.parametrize("code", sorted(REAL_CODES))
def test_a_real_local_government_code_is_valid_and_returned_unchanged(code: str) -> None:
    assert validate_lg_code(code) == code


@pytest.mark.parametrize("code", sorted(REAL_CODES))
def test_every_wrong_check_digit_of_a_real_code_is_rejected(code: str) -> None:
    wrong = [code[:5] + d for d in "0123456789" if d != code[5]]
    assert len(wrong) == 9
    for bad in wrong:
        with pytest.raises(InvalidLgCode, match="check digit should be"):
            validate_lg_code(bad)


def test_the_rejection_of_a_wrong_check_digit_names_the_right_one() -> None:
    with pytest.raises(InvalidLgCode) as caught:
        validate_lg_code("131017")
    assert "should be 6" in caught.value.detail
    assert "not 7" in caught.value.detail


@pytest.mark.parametrize(
    "code",
    [
        "13001",  # 5 digits (東京都 without its check digit)
        "1300010",  # 7 digits
        "13101",
        "1310160",
        "",
        "13000A",  # letter
        "ABCDEF",
        "13-001",
        " 130001",  # surrounding whitespace
        "130001 ",
        "130001\n",
        "１３０００１",  # full-width digits are not ASCII digits
        "+30001",
        "1.0001",
    ],
)
def test_a_code_that_is_not_six_ascii_digits_is_rejected(code: str) -> None:
    with pytest.raises(InvalidLgCode, match="6-digit"):
        validate_lg_code(code)


@pytest.mark.parametrize("code", [130001, 131016.0, None, b"130001", ["130001"]])
def test_a_code_that_is_not_a_string_is_rejected(code: Any) -> None:  # not a str, on purpose
    with pytest.raises(InvalidLgCode):
        validate_lg_code(code)


def test_an_invalid_code_is_an_invalid_input_problem_with_status_422() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_lg_code("130000")
    error = caught.value
    assert isinstance(error, InvalidLgCode)
    assert isinstance(error, DomainError)
    assert error.problem == "invalid-lg-code"
    assert error.status == 422


# -- is_prefecture / prefecture_of -------------------------------------------------------------

@pytest.mark.parametrize("code", sorted(PREFECTURES))
def test_a_prefecture_code_is_a_prefecture(code: str) -> None:
    assert is_prefecture(code) is True


@pytest.mark.parametrize("code", sorted(MUNICIPALITIES))
def test_a_municipal_code_is_not_a_prefecture(code: str) -> None:
    assert is_prefecture(code) is False


def test_is_prefecture_rejects_an_invalid_code_rather_than_answering() -> None:
    with pytest.raises(InvalidLgCode):
        is_prefecture("130002")
    with pytest.raises(InvalidLgCode):
        is_prefecture("13000")


def test_chiyoda_ward_belongs_to_tokyo() -> None:
    assert prefecture_of("131016") == "130001"


@pytest.mark.parametrize(
    ("code", "prefecture"),
    [
        ("131016", "130001"),  # 千代田区 → 東京都
        ("011002", "010006"),  # 札幌市 → 北海道
        ("141003", "140007"),  # 横浜市 → 神奈川県
        ("271004", "270008"),  # 大阪市 → 大阪府
        ("401307", "400009"),  # 福岡市 → 福岡県
    ],
)
def test_a_municipality_belongs_to_the_prefecture_of_its_first_two_digits(
    code: str, prefecture: str
) -> None:
    assert prefecture_of(code) == prefecture
    assert validate_lg_code(prefecture) == prefecture
    assert is_prefecture(prefecture)


@pytest.mark.parametrize("code", sorted(PREFECTURES))
def test_a_prefecture_belongs_to_itself(code: str) -> None:
    assert prefecture_of(code) == code


def test_prefecture_of_rejects_an_invalid_code() -> None:
    with pytest.raises(InvalidLgCode):
        prefecture_of("131010")


def test_a_prefecture_covers_itself_and_its_municipalities_and_a_municipality_only_itself():
    assert within("130001", "130001") and within("130001", "131016")  # 東京都: itself and 千代田区
    assert not within("270008", "131016") and not within("271004", "131016")  # 大阪府, 大阪市: not 千代田区
    assert within("131016", "131016") and not within("131016", "131024")  # 千代田区: not 中央区
    assert not within("131016", "130001")  # a municipality does not cover its prefecture
