"""Each report as the ministry's table (seeds/001): Japanese headers, 和暦 row labels (平成28年度,
unambiguous across eras), counts and 率 rows. Tables of one row per year take the years
`from_fy`..`fy`, like the seed's 平成24～28年度 tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from libs.domain import agencies
from libs.domain.dispatch import ACTIVITY_TYPES, DEPLOYMENT_TARGETS
from libs.platform.web.auth import Principal
from services.reporting.exports.sheet import Cell, Percent, Sheet
from services.reporting.queries import (
    centres_report,
    consultation_report,
    dispatch_report,
    outcome_report,
    referral_report,
    supporters_report,
)

Builder = Callable[[Engine, Principal, int, int, datetime | None], Sheet]
VERDICTS = {"met": "達成", "not_met": "未達成", "no_baseline": "目標値なし"}
ACTIVITY_LABELS = ("訪問", "面接", "外出同行", "関係者会議等", "その他")  # 資料8 活動種別, in ACTIVITY_TYPES order
# Activities of supporters deployed beyond home visits, in DEPLOYMENT_TARGETS order.
DEPLOYMENT_LABELS = ("居場所での活動", "事業の活動への協力", "関係機関での活動")


def consultations(engine: Engine, actor: Principal, fy: int, from_fy: int, as_of: datetime | None) -> Sheet:
    rows: list[list[Cell]] = []
    for year in range(from_fy, fy + 1):
        report = consultation_report(engine, actor, year, as_of=as_of)
        rows.append([report["label"], report["total"]])
    return Sheet("延べ相談件数", "consultations", ["年度", "延べ相談件数"], rows)


def _referral_rows(engine: Engine, actor: Principal, fy: int, from_fy: int, as_of: datetime | None,
                   table: str) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for year in range(from_fy, fy + 1):
        report = referral_report(engine, actor, year, as_of=as_of)
        columns = report[table]["columns"]
        rows.append([report["label"], "", *(c["count"] for c in columns), report[table]["total"]])
        rows.append(["", "率", *(Percent(c["rate"]) for c in columns), None])
    return rows


def referrals(engine: Engine, actor: Principal, fy: int, from_fy: int, as_of: datetime | None) -> Sheet:
    header = ["年度", "関係機関", *(label for _, label in agencies.SUMMARY_COLUMNS), "総計"]
    return Sheet("関係機関につないだ件数", "referrals", header,
                 _referral_rows(engine, actor, fy, from_fy, as_of, "summary"))


def referrals_detailed(engine: Engine, actor: Principal, fy: int, from_fy: int, as_of: datetime | None) -> Sheet:
    header = ["年度", "関係機関", *(c.label for c in agencies.CATEGORIES), "総計"]
    return Sheet("関係機関へつないだ件数（詳細版）", "referrals-detailed", header,
                 _referral_rows(engine, actor, fy, from_fy, as_of, "detailed"))


def outcome(engine: Engine, actor: Principal, fy: int, from_fy: int, as_of: datetime | None) -> Sheet:
    header = ["年度", "専門機関での支援が決定した件数", "前年度の決定件数", "前年度の設置数",
              "前年度の1センターあたりの決定件数", "設置数", "目標値", "達成状況"]
    rows: list[list[Cell]] = []
    for year in range(from_fy, fy + 1):
        r = outcome_report(engine, actor, year, as_of=as_of)
        p = r["previous"]
        rows.append([r["label"], r["decided"], p["decided"], p["centres"], p["per_centre"], r["centres"],
                     r["target"], VERDICTS[r["verdict"]]])
    return Sheet("専門機関での支援が決定した件数", "outcome", header, rows)


def centres(engine: Engine, actor: Principal, fy: int, from_fy: int, as_of: datetime | None) -> Sheet:
    report = centres_report(engine, actor, fy, as_of=as_of)
    rows: list[list[Cell]] = [[y["label"], y["new"], y["cumulative"]] for y in report["years"]]
    return Sheet("年度別設置自治体数", "centres", ["年度", "新規", "累計"], rows)


def supporters(engine: Engine, actor: Principal, fy: int, from_fy: int, as_of: datetime | None) -> Sheet:
    header = ["年度", "実施主体", "新規登録", "再登録", "辞退", "取消し", "期間満了", "年度末登録者数",
              "名簿提供件数", "名簿提供人数"]
    report = supporters_report(engine, actor, fy, as_of=as_of)
    keys = ("newly_registered", "renewed", "withdrawn", "revoked", "expired", "registered_at_fy_end",
            "rosters_provided", "roster_entries")
    rows: list[list[Cell]] = [[report["label"], r["tenant"], *(r[k] for k in keys)] for r in report["registrars"]]
    rows.append([report["label"], "総計", *(report["total"][k] for k in keys)])
    return Sheet("ひきこもりサポーター登録状況", "supporters", header, rows)


def _dispatch_row(label: str, who: str, r: dict) -> list[Cell]:
    return [label, who, r["started"], r["ended"], *(r["activities"].get(t, 0) for t in ACTIVITY_TYPES),
            *(r["activities_by_kind"].get(t, 0) for t in DEPLOYMENT_TARGETS), r["activity_total"],
            r["previous_activity_total"], "達成" if r["met"] else "未達成"]


def dispatch(engine: Engine, actor: Principal, fy: int, from_fy: int, as_of: datetime | None) -> Sheet:
    header = ["年度", "市町村", "派遣開始", "派遣終了", *ACTIVITY_LABELS, *DEPLOYMENT_LABELS, "活動件数",
              "前年度の活動件数", "達成状況"]
    report = dispatch_report(engine, actor, fy, as_of=as_of)
    rows = [_dispatch_row(report["label"], r["tenant"], r) for r in report["municipalities"]]
    rows.append(_dispatch_row(report["label"], "総計", report["total"]))
    return Sheet("ひきこもりサポーター活動件数", "dispatch", header, rows)


BUILDERS: dict[str, Builder] = {
    "consultations": consultations,
    "referrals": referrals,
    "referrals-detailed": referrals_detailed,
    "outcome": outcome,
    "centres": centres,
    "supporters": supporters,
    "dispatch": dispatch,
}
