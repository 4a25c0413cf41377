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

The statute is a code from STATUTES below, never free text: a free citation ("x") let anything pass
as a law (issue 14). Each statute names the bases it can found, the kinds of agency the data may go
to under it and whose data (a child's, an adult's) it is about; a provision outside those conditions
is refused. The reason stays free text (the circumstances of the person), sealed under the person's
key; services seal the statute's code with it, as they did the citation (the event is unchanged).
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


@dataclass(frozen=True)
class Statute:
    """A provision of law that founds a third-party provision without consent, with its conditions."""

    code: str
    citation: str
    bases: tuple[str, ...]  # the legal-basis codes it can found
    recipients: tuple[str, ...]  # agency categories (libs/domain/agencies) the data may go to under it
    age_groups: tuple[str, ...] = ("child", "adult")  # whose data it is about


_CHILD_AUTHORITIES = ("child_guidance_centre", "welfare_office", "municipal_window")
STATUTES: dict[str, Statute] = {s.code: s for s in (
    Statute("child_abuse_notification", "児童虐待の防止等に関する法律 第6条第1項",
            ("required_by_law",), _CHILD_AUTHORITIES, ("child",)),
    Statute("child_welfare_notification", "児童福祉法 第25条第1項",
            ("required_by_law",), _CHILD_AUTHORITIES, ("child",)),
    Statute("child_protection_council", "児童福祉法 第25条の3 (要保護児童対策地域協議会)",
            ("required_by_law", "cooperation_with_authority"),
            (*_CHILD_AUTHORITIES, "child_family_support_centre", "school_education_board", "public_health_centre"),
            ("child",)),
    Statute("self_reliance_support_council", "生活困窮者自立支援法 第9条 (支援会議)",
            ("required_by_law", "cooperation_with_authority"),
            ("self_reliance_support", "welfare_office", "municipal_window", "social_welfare_council")),
    Statute("multilayered_support_council", "社会福祉法 第106条の6 (支援会議)",
            ("required_by_law", "cooperation_with_authority"),
            ("municipal_window", "welfare_office", "social_welfare_council", "self_reliance_support",
             "community_general_support_centre")),
    Statute("elder_abuse_notification", "高齢者虐待の防止、高齢者の養護者に対する支援等に関する法律 第7条",
            ("required_by_law",), ("municipal_window", "community_general_support_centre"), ("adult",)),
    Statute("disability_abuse_notification", "障害者虐待の防止、障害者の養護者に対する支援等に関する法律 第7条",
            ("required_by_law",), ("municipal_window",)),
)}
STATUTE_CODES: tuple[str, ...] = tuple(STATUTES)
# The same codes as a type, for request models (the tests hold it equal to STATUTE_CODES).
StatuteCode = Literal["child_abuse_notification", "child_welfare_notification", "child_protection_council",
                      "self_reliance_support_council", "multilayered_support_council", "elder_abuse_notification",
                      "disability_abuse_notification"]


class InvalidLegalBasis(InvalidInput):
    problem = "invalid-legal-basis"
    title = "The stated legal basis is unknown or lacks its justification (APPI 第27条第1項)"


def check_legal_basis(code: str, *, statute: str | dict | None, has_reason: bool,
                      recipient_category: str | None = None, age_group: str | None = None) -> LegalBasis:
    """The legal basis of that code, when the justification it needs is all there. `statute` is a
    code of STATUTES, checked against its conditions (the basis it founds, the recipient's agency
    category, the person's age group, when given); or its sealed form once sealed (then only its
    presence is checked: it was checked before it was sealed)."""
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
    if isinstance(statute, str) and statute.strip():
        _check_statute(basis, statute, recipient_category=recipient_category, age_group=age_group)
    return basis


def _check_statute(basis: LegalBasis, code: str, *, recipient_category: str | None, age_group: str | None) -> None:
    statute = STATUTES.get(code)
    if statute is None:
        raise InvalidLegalBasis(f"statute must be one of {STATUTE_CODES}", legal_basis=basis.code,
                                allowed_statutes=list(STATUTE_CODES))
    if not basis.needs_statute:
        raise InvalidLegalBasis(f"{basis.code} ({basis.article}) rests on no statute: give the reason only",
                                legal_basis=basis.code, statute=code)
    if basis.code not in statute.bases:
        raise InvalidLegalBasis(f"{statute.citation} does not found {basis.code} ({basis.article})",
                                legal_basis=basis.code, statute=code, bases=list(statute.bases))
    if recipient_category is not None and recipient_category not in statute.recipients:
        raise InvalidLegalBasis(f"{statute.citation} does not provide data to a {recipient_category}",
                                legal_basis=basis.code, statute=code, recipients=list(statute.recipients))
    if age_group is not None and age_group not in statute.age_groups:
        raise InvalidLegalBasis(f"{statute.citation} is about the data of a {' or '.join(statute.age_groups)}",
                                legal_basis=basis.code, statute=code, age_groups=list(statute.age_groups))
