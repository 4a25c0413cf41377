"""Legal bases of a provision without the person's consent: 個人情報保護法 (APPI) 第27条第1項 各号.

A third-party provision normally rests on the person's consent. Each kind below is an exception
the law itself allows, and each needs its own justification on the record:

- `required_by_law` — 第1号 法令に基づく場合 (e.g. 児童虐待の防止等に関する法律 第6条第1項: the
  notification of suspected abuse to 児童相談所). Needs the statute cited.
- `protection_of_life` — 第2号 人の生命、身体又は財産の保護のために必要がある場合であって、本人の同意を
  得ることが困難であるとき. Needs why consent could not be obtained.
- `public_health_or_child_welfare` — 第3号 公衆衛生の向上又は児童の健全な育成の推進のために特に必要が
  ある場合であって、本人の同意を得ることが困難であるとき. Needs why consent could not be obtained.
- `cooperation_with_authority` — 第4号 国の機関若しくは地方公共団体又はその委託を受けた者が法令の定める
  事務を遂行することに対して協力する必要がある場合であって、本人の同意を得ることにより当該事務の遂行に支障を
  及ぼすおそれがあるとき. Needs the statute of that duty and why asking would impede it.

Both the statute and the reason are free text (a statute cited as "…第6条 in the case of X" would
name the person), so services seal both under the person's key; the code is what travels in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from libs.domain.errors import InvalidInput


@dataclass(frozen=True)
class LegalBasis:
    code: str
    article: str
    name: str  # the words of the law
    needs_statute: bool
    needs_reason: bool


LEGAL_BASES: dict[str, LegalBasis] = {b.code: b for b in (
    LegalBasis("required_by_law", "第27条第1項第1号", "法令に基づく場合", needs_statute=True, needs_reason=False),
    LegalBasis("protection_of_life", "第27条第1項第2号",
               "人の生命、身体又は財産の保護のために必要がある場合であって、本人の同意を得ることが困難であるとき",
               needs_statute=False, needs_reason=True),
    LegalBasis("public_health_or_child_welfare", "第27条第1項第3号",
               "公衆衛生の向上又は児童の健全な育成の推進のために特に必要がある場合であって、本人の同意を得ることが困難であるとき",
               needs_statute=False, needs_reason=True),
    LegalBasis("cooperation_with_authority", "第27条第1項第4号",
               "国の機関若しくは地方公共団体又はその委託を受けた者が法令の定める事務を遂行することに対して協力する必要がある"
               "場合であって、本人の同意を得ることにより当該事務の遂行に支障を及ぼすおそれがあるとき",
               needs_statute=True, needs_reason=True),
)}
CODES: tuple[str, ...] = tuple(LEGAL_BASES)
# The same codes as a type, for request models (the tests hold it equal to CODES, order included).
LegalBasisCode = Literal["required_by_law", "protection_of_life", "public_health_or_child_welfare",
                         "cooperation_with_authority"]
STATUTE_MAX = 200


class InvalidLegalBasis(InvalidInput):
    problem = "invalid-legal-basis"
    title = "The stated legal basis is unknown or lacks its justification (APPI 第27条第1項)"


def check_legal_basis(code: str, *, statute: str | dict | None, has_reason: bool) -> LegalBasis:
    """The legal basis of that code, when the justification it needs is all there. `statute` is
    the citation's text, or its sealed form once sealed (then only its presence is checked)."""
    basis = LEGAL_BASES.get(code)
    if basis is None:
        raise InvalidLegalBasis(f"legal_basis must be one of {CODES}", allowed=list(CODES))
    missing = []
    given = bool(statute) if isinstance(statute, dict) else bool(statute and statute.strip())
    if basis.needs_statute and not given:
        missing.append("statute")
    if basis.needs_reason and not has_reason:
        missing.append("reason")
    if missing:
        raise InvalidLegalBasis(f"{code} ({basis.article} {basis.name}) needs {' and '.join(missing)}",
                                legal_basis=code, missing=missing)
    if isinstance(statute, str) and len(statute) > STATUTE_MAX:
        raise InvalidLegalBasis(f"statute is a citation of at most {STATUTE_MAX} characters", legal_basis=code)
    return basis
