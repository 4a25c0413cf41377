"""市町村等の実施体制 by fiscal year: seeds/002 資料1 gives 令和6年度 — 303 市区町村 in all, 38 running
a ひきこもり地域支援センター, 110 a 支援ステーション and 155 a サポート事業."""

from __future__ import annotations

from uuid import uuid4

from libs.domain.codes import check_digit
from services.reporting.queries.programmes import programmes_report
from services.reporting.tests.conftest import CHIYODA, MINISTRY, TOKYO, principal
from services.reporting.tests.feed import noon

SHARES = {"national": "1/2", "prefecture": "1/4", "municipality": "1/4"}


def _municipalities(n: int) -> list[str]:
    """n distinct valid 全国地方公共団体コード of municipalities (prefectures 01–47, not PP000)."""
    codes = []
    for pref in range(1, 48):
        for town in range(100, 120):
            head = f"{pref:02d}{town:03d}"
            codes.append(head + str(check_digit(head)))
    return codes[:n]


def _start(feed, tenant: str, kind: str, starts_on: str, ends_on: str | None = None,
           invited: tuple[str, ...] = ()) -> str:
    programme_id = str(uuid4())
    feed.send("intake", "ProgrammeStarted", programme_id, {
        "tenant": tenant, "kind": kind, "name": f"{kind} {tenant}", "operators": [tenant], "invited": list(invited),
        "activities": ["place"] if kind == "support_programme" else [], "starts_on": starts_on, "ends_on": ends_on,
        "funding": SHARES}, tenant=tenant, time=noon(starts_on))
    return programme_id


def test_the_seed_s_reiwa_6_figures_are_reproduced(feed, engine):
    codes = _municipalities(303)
    kinds = ["municipal_centre"] * 38 + ["station"] * 110 + ["support_programme"] * 155
    for code, kind in zip(codes, kinds, strict=True):
        _start(feed, code, kind, "2024-04-01")
    _start(feed, codes[0], "support_programme", "2025-04-01")  # the next year: not in 令和6年度
    report = programmes_report(engine, MINISTRY, 2024)
    assert report["label"] == "令和6年度"
    running = report["local_governments_by_programme"]
    assert (running["municipal_centre"], running["station"], running["support_programme"]) == (38, 110, 155)
    assert report["local_governments"] == 303


def test_a_programme_ended_before_the_year_is_not_counted_and_one_running_in_two_kinds_counts_once(feed, engine):
    ended = _start(feed, CHIYODA, "support_programme", "2022-04-01")
    feed.send("intake", "ProgrammeEnded", ended, {"ended_on": "2024-03-31", "handed_over_to": None},
              tenant=CHIYODA, time=noon("2024-03-31"))
    _start(feed, CHIYODA, "station", "2024-04-01")
    _start(feed, CHIYODA, "municipal_centre", "2024-10-01")
    report = programmes_report(engine, MINISTRY, 2024)
    assert report["local_governments_by_programme"]["support_programme"] == 0
    assert report["local_governments_by_programme"]["station"] == 1
    assert report["local_governments"] == 1


def test_a_programme_counts_once_its_named_operators_accepted_and_a_declined_one_never(feed, engine):
    joint = _start(feed, CHIYODA, "station", "2024-04-01", invited=("131024",))
    refused = _start(feed, CHIYODA, "support_programme", "2024-04-01", invited=("131024",))
    assert programmes_report(engine, MINISTRY, 2024)["local_governments"] == 0  # pending: not running yet
    feed.send("intake", "ProgrammeOperatorDeclined", refused, {"government": "131024", "declined_on": "2024-04-02"},
              tenant=CHIYODA, time=noon("2024-04-02"))
    feed.send("intake", "ProgrammeOperatorAccepted", joint, {
        "government": "131024", "accepted_on": "2024-04-03", "operators": [CHIYODA, "131024"], "invited": []},
        tenant=CHIYODA, time=noon("2024-04-03"))
    running = programmes_report(engine, MINISTRY, 2024)["local_governments_by_programme"]
    assert (running["station"], running["support_programme"]) == (1, 0)


def test_prefectural_back_up_counts_kinds_municipalities_and_staff_days_for_the_prefecture(feed, engine):
    for municipality, kind, days in ((CHIYODA, "staff_dispatched", 3), (CHIYODA, "advice", None),
                                     ("131024", "staff_dispatched", 2), ("131024", "startup_support", None)):
        feed.send("intake", "PrefecturalBackupGiven", str(uuid4()), {
            "tenant": TOKYO, "municipality": municipality, "kind": kind, "given_on": "2024-07-01",
            "centre_id": None, "programme_id": None, "staff_role": "municipal_support_worker" if days else None,
            "staff_days": days, "note": None}, tenant=TOKYO, time=noon("2024-07-01"))
    report = programmes_report(engine, principal("prefecture_officer", TOKYO), 2024)
    assert report["prefectural_backups"]["staff_dispatched"] == 2 and report["prefectural_backups"]["advice"] == 1
    assert (report["municipalities_backed_up"], report["staff_days_dispatched"]) == (2, 5)
    assert programmes_report(engine, principal("prefecture_officer", "270008"), 2024)["staff_days_dispatched"] == 0
