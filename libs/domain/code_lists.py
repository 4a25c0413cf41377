"""The code lists (コード表) the APIs accept, as one registry: each list's codes, Japanese labels,
version and the services that accept it. Served at /v1/code-lists (libs/platform/web/code_lists)
and stated as enums in the request schemas (`code_of`), so OpenAPI, the served lists and the rules
of the domain are the same tuples.

A list's version changes when a code is added, renamed or retired; old events keep the codes they
were recorded with (agencies.VERSION is the agency categories' version).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from libs.domain import agencies, audit, dispatch, intake, legal_bases, registry
from libs.domain.codes import check_digit, prefecture_of
from libs.domain.prefectures import MUNICIPALITIES_SOURCE, PREFECTURE_NAMES, local_government_label, municipalities

INTAKE, REGISTRY, DISPATCH, REPORTING = "intake", "registry", "dispatch", "reporting"
EVERY_SERVICE = frozenset({INTAKE, REGISTRY, DISPATCH, REPORTING})


@dataclass(frozen=True)
class Code:
    code: str
    label: str  # Japanese, as the seeds name it
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CodeList:
    name: str
    title: str
    version: str
    source: str  # where in libs/domain (and the seeds) the list comes from
    services: frozenset[str]  # the services whose requests accept it
    codes: tuple[Code, ...]

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codes)


def _labelled(codes: tuple[str, ...], labels: Mapping[str, str]) -> tuple[Code, ...]:
    missing = set(codes) - set(labels)
    if missing:  # a code without a label is a bug of this module, found at import
        raise ValueError(f"codes without a label: {sorted(missing)}")
    return tuple(Code(c, labels[c]) for c in codes)


_V1 = "v1"
_SHARE_ITEM_LABELS = {"name": "氏名", "gender": "性別", "birth_date": "生年月日", "address": "住所",
                      "contact": "連絡先", "consultation": "相談内容", "life_history": "生活歴",
                      "medical_history": "既往歴 (要配慮個人情報)"}
# 情報提供の目的 of a disclosure to an agency: a code, since the record travels on the bus.
DISCLOSURE_PURPOSES = ("referral", "coordination", "support_meeting", "other")

def _local_governments() -> tuple[Code, ...]:
    """The 47 都道府県 and every 市区町村 by code, each labelled with its full name (東京都千代田区),
    carrying its prefecture's code (and a municipality its reading)."""
    prefectures = [head + str(check_digit(head)) for head in (part + "000" for part in PREFECTURE_NAMES)]
    codes = [Code(p, str(local_government_label(p)), {"prefecture": p}) for p in prefectures]
    codes += [Code(m.code, str(local_government_label(m.code)), {"prefecture": prefecture_of(m.code), "kana": m.kana})
              for m in municipalities().values()]
    return tuple(sorted(codes, key=lambda c: c.code))


CODE_LISTS: dict[str, CodeList] = {cl.name: cl for cl in (
    CodeList("agency-categories", "関係機関の種別 (詳細版 21区分) と集計表9列への対応", agencies.VERSION,
             "libs/domain/agencies (seeds/001 詳細版)", frozenset({INTAKE, REPORTING}),
             tuple(Code(c.code, c.label, {"summary_column": c.summary,
                                          "summary_label": dict(agencies.SUMMARY_COLUMNS)[c.summary]})
                   for c in agencies.CATEGORIES)),
    CodeList("agency-summary-columns", "関係機関につないだ件数の集計表 (9列)", agencies.VERSION,
             "libs/domain/agencies (seeds/001 平成24～28年度)", frozenset({INTAKE, REPORTING}),
             tuple(Code(code, label) for code, label in agencies.SUMMARY_COLUMNS)),
    CodeList("channels", "相談の方法", _V1, "libs/domain/intake.CHANNELS", frozenset({INTAKE}),
             _labelled(intake.CHANNELS, {"phone": "電話", "visit": "来所", "email": "メール", "outreach": "訪問",
                                         "other": "その他"})),
    CodeList("client-kinds", "相談者の種別", _V1, "libs/domain/intake.CLIENT_KINDS", frozenset({INTAKE}),
             _labelled(intake.CLIENT_KINDS, {"person": "本人", "family": "家族", "agency": "関係機関"})),
    CodeList("age-groups", "年齢区分", _V1, "libs/domain/intake.AGE_GROUPS", frozenset({INTAKE}),
             _labelled(intake.AGE_GROUPS, {"child": "18歳未満", "adult": "18歳以上"})),
    CodeList("share-items", "提供する情報の項目 (実施要領 第2 5(1))", _V1, "libs/domain/intake.SHARE_ITEMS",
             frozenset({INTAKE}), _labelled(intake.SHARE_ITEMS, _SHARE_ITEM_LABELS)),
    CodeList("disclosure-purposes", "関係機関への情報提供の目的", _V1, "libs/domain/code_lists.DISCLOSURE_PURPOSES",
             frozenset({INTAKE}), _labelled(DISCLOSURE_PURPOSES, {
                 "referral": "つなぎ", "coordination": "連携・調整", "support_meeting": "支援会議",
                 "other": "その他"})),
    CodeList("legal-bases", "本人の同意によらない提供の根拠 (個人情報保護法 第27条第1項各号)", _V1,
             "libs/domain/legal_bases.LEGAL_BASES", frozenset({INTAKE}),
             tuple(Code(b.code, b.name, {"article": b.article, "needs_statute": b.needs_statute,
                                         "needs_reason": b.needs_reason})
                   for b in legal_bases.LEGAL_BASES.values())),
    CodeList("statutes", "提供の根拠となる法令", _V1, "libs/domain/legal_bases.STATUTES", frozenset({INTAKE}),
             tuple(Code(s.code, s.citation, {"bases": list(s.bases), "recipients": list(s.recipients),
                                             "age_groups": list(s.age_groups)})
                   for s in legal_bases.STATUTES.values())),
    CodeList("support-needs", "サポーターに求める支援", _V1, "libs/domain/intake.SUPPORT_NEEDS",
             frozenset({INTAKE, DISPATCH}), _labelled(intake.SUPPORT_NEEDS, {
                 "visit": "訪問", "interview": "面接", "accompanied_outing": "外出同行",
                 "case_meeting": "関係者会議等", "information": "情報の提供", "place": "居場所"})),
    CodeList("void-reasons", "相談記録の取消しの理由", _V1, "libs/domain/intake.VOID_REASONS", frozenset({INTAKE}),
             _labelled(intake.VOID_REASONS, {"duplicate_entry": "二重登録", "wrong_case": "別の事例への誤登録",
                                             "not_a_consultation": "相談に当たらない"})),
    CodeList("close-reasons", "事例の終結の理由", _V1, "libs/domain/intake.CLOSE_REASONS", frozenset({INTAKE}),
             _labelled(intake.CLOSE_REASONS, {"support_decided": "支援決定", "resolved": "解決",
                                              "moved_away": "転居", "no_contact": "連絡途絶",
                                              "other": "その他"})),
    CodeList("access-purposes", "個人情報を閲覧する目的 (監査)", _V1, "libs/domain/audit.PURPOSES", EVERY_SERVICE,
             tuple(Code(code, label) for code, label in audit.PURPOSES.items())),
    CodeList("roster-items", "登録名簿の項目 (資料6)", _V1, "libs/domain/registry.ROSTER_ITEMS", frozenset({REGISTRY}),
             _labelled(registry.ROSTER_ITEMS, {"registration_number": "登録番号", "term": "登録期間", "name": "氏名",
                                               "gender": "性別", "birth_date": "生年月日", "address": "住所",
                                               "contact": "連絡先"})),
    CodeList("disclosure-items", "サポーターに提供する情報の項目 (資料7)", _V1, "libs/domain/dispatch.DISCLOSURE_ITEMS",
             frozenset({DISPATCH}), _labelled(dispatch.DISCLOSURE_ITEMS, _SHARE_ITEM_LABELS)),
    CodeList("activity-types", "活動種別 (資料8)", _V1, "libs/domain/dispatch.ACTIVITY_TYPES", frozenset({DISPATCH}),
             _labelled(dispatch.ACTIVITY_TYPES, {"visit": "訪問", "interview": "面接", "accompanied_outing": "外出同行",
                                                 "case_meeting": "関係者会議等", "other": "その他"})),
    CodeList("next-steps", "今後の方針 (資料8)", _V1, "libs/domain/dispatch.NEXT_STEPS", frozenset({DISPATCH}),
             _labelled(dispatch.NEXT_STEPS, {"continue": "継続", "pause": "中断", "end": "終了", "other": "その他"})),
    # Informational: requests take any well-formed code (a municipality may be newer than the list;
    # demo tenants use codes no real one has), so no request field is typed with it.
    CodeList("local-governments", "全国地方公共団体コード (都道府県・市区町村)", "2026-07-09",
             f"libs/domain/prefectures ({MUNICIPALITIES_SOURCE})", EVERY_SERVICE, _local_governments()),
)}


def code_list(name: str) -> CodeList:
    try:
        return CODE_LISTS[name]
    except KeyError:
        raise KeyError(f"no code list {name!r}") from None


def served_by(service: str) -> tuple[CodeList, ...]:
    return tuple(cl for cl in CODE_LISTS.values() if service in cl.services)
