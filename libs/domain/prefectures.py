"""Names of local governments (地方公共団体) by their 全国地方公共団体コード, so a document addressed
to a person, an audit reading or the dashboard names a local government rather than its code.

都道府県 by the first two digits (JIS X 0401). 市区町村 (and the wards, 区, of designated cities)
from data/municipalities.csv: code, name, reading, taken from code4fukui/localgovjp
(`localgovjp-utf8.csv` of 2026-07-09, CC0 1.0), itself compiled from 地方公共団体情報システム機構's
list; a municipality created after that has no name here and is labelled by its code.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from typing import NamedTuple

from libs.domain.codes import InvalidLgCode, validate_lg_code

_NAMES = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県", "群馬県",
    "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
    "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県",
    "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
    "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
)
PREFECTURE_NAMES: dict[str, str] = {f"{n:02d}": name for n, name in enumerate(_NAMES, start=1)}
MUNICIPALITIES_FILE = Path(__file__).with_name("data") / "municipalities.csv"
MUNICIPALITIES_SOURCE = "code4fukui/localgovjp localgovjp-utf8.csv (2026-07-09, CC0 1.0)"


class Municipality(NamedTuple):
    code: str
    name: str  # e.g. 千代田区, 札幌市中央区
    kana: str  # its reading in hiragana


@cache
def municipalities() -> dict[str, Municipality]:
    """Every 市区町村 (wards of designated cities included) by its 6-digit code."""
    with MUNICIPALITIES_FILE.open(encoding="utf-8", newline="") as f:
        return {row["code"]: Municipality(row["code"], row["name"], row["kana"]) for row in csv.DictReader(f)}


def local_government_label(code: str) -> str | None:
    """A readable name of a local government code: 130001 → 東京都, 131016 → 東京都千代田区; a
    municipality missing from the list → 東京都の市区町村 (地方公共団体コード 131999…); None when not
    a valid code of a prefecture that exists."""
    try:
        validate_lg_code(code)
    except InvalidLgCode:
        return None
    prefecture = PREFECTURE_NAMES.get(code[:2])
    if prefecture is None:
        return None
    if code[2:5] == "000":
        return prefecture
    if (municipality := municipalities().get(code)) is not None:
        return prefecture + municipality.name
    return f"{prefecture}の市区町村 (地方公共団体コード {code})"
