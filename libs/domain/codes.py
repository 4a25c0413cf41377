"""Local-government codes (全国地方公共団体コード), the tenant of every aggregate."""

from __future__ import annotations

import re

from libs.domain.errors import InvalidInput

_WEIGHTS = (6, 5, 4, 3, 2)
_SIX_DIGITS = re.compile(r"[0-9]{6}")


class InvalidLgCode(InvalidInput):
    """A 全国地方公共団体コード that is not six digits or whose check digit is wrong."""

    problem = "invalid-lg-code"
    title = "Invalid local-government code"


def check_digit(first_five: str) -> int:
    """The check digit of a 全国地方公共団体コード (検査数字): weights 6..2, modulus 11."""
    total = sum(int(d) * w for d, w in zip(first_five, _WEIGHTS, strict=True))
    return (11 - total % 11) % 10


def validate_lg_code(code: str) -> str:
    """Return `code` when it is a valid 6-digit local-government code, else raise InvalidLgCode."""
    if not isinstance(code, str) or not _SIX_DIGITS.fullmatch(code):
        raise InvalidLgCode(f"{code!r} is not a 6-digit 全国地方公共団体コード")
    if check_digit(code[:5]) != int(code[5]):
        raise InvalidLgCode(
            f"{code!r}: check digit should be {check_digit(code[:5])}, not {code[5]}"
        )
    return code


def is_prefecture(code: str) -> bool:
    """Prefectures (都道府県) have codes PP000C."""
    return validate_lg_code(code)[2:5] == "000"


# Prefecture parts no real local government has (real ones are 01–47): the demo and training
# tenants (`make run`'s デモ県 990001, デモ府 980005) use these, and only these may be demo.
DEMO_PREFECTURE_PARTS = ("98", "99")


def is_demo_code(code: str) -> bool:
    """A demo or training tenant's code (its prefecture part is 98 or 99): never a real one."""
    return validate_lg_code(code)[:2] in DEMO_PREFECTURE_PARTS


def prefecture_of(code: str) -> str:
    """The code of the prefecture a local government belongs to (e.g. 131016 → 130001)."""
    head = validate_lg_code(code)[:2] + "000"
    return head + str(check_digit(head))


def within(jurisdiction: str, code: str) -> bool:
    """Whether `code` lies inside the jurisdiction of `jurisdiction`: a prefecture covers itself and
    its municipalities, a municipality only itself (designated cities' wards are not told apart)."""
    if validate_lg_code(code) == validate_lg_code(jurisdiction):
        return True
    return is_prefecture(jurisdiction) and prefecture_of(code) == jurisdiction
