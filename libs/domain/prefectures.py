"""都道府県 names by the first two digits of a 全国地方公共団体コード (JIS X 0401), so a document
addressed to a person names a local government that received their data rather than its code."""

from __future__ import annotations

from libs.domain.codes import InvalidLgCode, validate_lg_code

_NAMES = (
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県", "群馬県",
    "埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
    "岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県",
    "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
    "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
)
PREFECTURE_NAMES: dict[str, str] = {f"{n:02d}": name for n, name in enumerate(_NAMES, start=1)}


def local_government_label(code: str) -> str | None:
    """A readable name of a local government code: 130001 → 東京都; a municipality, which we hold no
    name list of, → 東京都の市区町村 (地方公共団体コード 131016); None when not a valid code."""
    try:
        validate_lg_code(code)
    except InvalidLgCode:
        return None
    prefecture = PREFECTURE_NAMES.get(code[:2])
    if prefecture is None:
        return None
    if code[2:5] == "000":
        return prefecture
    return f"{prefecture}の市区町村 (地方公共団体コード {code})"
