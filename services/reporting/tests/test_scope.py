"""Each caller sees only its own: a prefecture its region, a centre itself, a municipality itself."""

from __future__ import annotations

import pytest

from libs.domain.errors import InvalidInput
from libs.platform.web.auth import NotAllowed
from services.reporting.queries import (
    centres_report,
    consultation_report,
    dispatch_report,
    outcome_report,
    programmes_report,
    referral_report,
    supporters_report,
)
from services.reporting.tests.conftest import (
    CHIYODA,
    CHUO,
    MINISTRY,
    OSAKA,
    OSAKA_CITY,
    TOKYO,
    principal,
)


@pytest.fixture
def two_prefectures(feed) -> dict[str, str]:
    centres = {org: feed.centre(org, opened_fy=2012) for org in (TOKYO, CHIYODA, OSAKA)}
    for centre in centres.values():
        case = feed.case(centre)
        feed.consultation(case, "2016-05-01T10:00:00+09:00")
        feed.referral(case, "medical_institution", "2016-05-02")
        feed.decision(case, "2016-06-01")
    for org in (CHIYODA, CHUO, OSAKA_CITY):
        dispatch_id = feed.dispatch_started(org, "2016-06-01")
        feed.activity(org, dispatch_id, "2016-06-02")
    for org in (TOKYO, OSAKA):
        feed.registered(org, "2016-04-01", "2019-03-31")
    return centres


def test_a_prefecture_officer_sees_its_own_prefecture_and_the_local_governments_inside_it(engine, two_prefectures):
    tokyo = principal("prefecture_officer", TOKYO)
    report = consultation_report(engine, tokyo, 2016)
    assert {c["tenant"] for c in report["centres"]} == {TOKYO, CHIYODA} and report["total"] == 2
    assert referral_report(engine, tokyo, 2016)["summary"]["total"] == 2
    assert outcome_report(engine, tokyo, 2016)["decided"] == 2
    assert centres_report(engine, tokyo, 2016)["local_governments"] == 2
    assert {r["tenant"] for r in dispatch_report(engine, tokyo, 2016)["municipalities"]} == {CHIYODA, CHUO}
    assert [r["tenant"] for r in supporters_report(engine, tokyo, 2016)["registrars"]] == [TOKYO]
    assert referral_report(engine, MINISTRY, 2016)["summary"]["total"] == 3


def test_centre_staff_see_their_own_centre_only(engine, two_prefectures):
    staff = principal("centre_staff", two_prefectures[CHIYODA])
    assert [c["tenant"] for c in consultation_report(engine, staff, 2016)["centres"]] == [CHIYODA]
    assert referral_report(engine, staff, 2016)["summary"]["total"] == 1
    assert outcome_report(engine, staff, 2016)["centres"] == 1
    with pytest.raises(NotAllowed):
        dispatch_report(engine, staff, 2016)


def test_a_municipal_officer_sees_its_own_municipality_in_dispatch_and_supporter_tables_only(engine, two_prefectures):
    chuo = principal("municipal_officer", CHUO)
    assert [r["tenant"] for r in dispatch_report(engine, chuo, 2016)["municipalities"]] == [CHUO]
    assert dispatch_report(engine, chuo, 2016)["total"]["activity_total"] == 1
    assert supporters_report(engine, chuo, 2016)["registrars"] == []
    for centre_report in (consultation_report, referral_report, outcome_report, centres_report):
        with pytest.raises(NotAllowed):
            centre_report(engine, chuo, 2016)


@pytest.mark.parametrize("role", ["supporter", "integrator", "portal"])
def test_other_roles_are_refused_every_report(engine, projection, role):
    caller = principal(role, TOKYO)
    for report in (consultation_report, referral_report, outcome_report, centres_report, dispatch_report,
                   supporters_report):
        with pytest.raises(NotAllowed):
            report(engine, caller, 2016)


@pytest.mark.parametrize(("role", "org", "centres", "municipalities"), [
    ("auditor", "000000", {TOKYO, CHIYODA, OSAKA}, {CHIYODA, CHUO, OSAKA_CITY}),
    ("auditor_pii", TOKYO, {TOKYO, CHIYODA}, {CHIYODA, CHUO}),
    ("auditor", CHIYODA, {CHIYODA}, {CHIYODA}),
    ("auditor", OSAKA_CITY, set(), {OSAKA_CITY}),
    ("auditor", "ppc", set(), set()),  # an org that is no government and not national: nothing
])
def test_an_auditor_sees_the_reports_of_their_jurisdiction_as_in_every_service(
        engine, two_prefectures, role, org, centres, municipalities):
    auditor = principal(role, org)  # issue 14: an auditor of any org saw the whole nation here
    assert {c["tenant"] for c in consultation_report(engine, auditor, 2016)["centres"]} == centres
    assert {r["tenant"] for r in dispatch_report(engine, auditor, 2016)["municipalities"]} == municipalities


DEMO_PREF, DEMO_CITY = "990001", "991015"  # `make run`'s demo tenants (no such prefecture: 99)


def _national(engine) -> tuple:
    return (consultation_report(engine, MINISTRY, 2016)["total"],
            referral_report(engine, MINISTRY, 2016)["summary"]["total"],
            outcome_report(engine, MINISTRY, 2016)["decided"], centres_report(engine, MINISTRY, 2016)["centres"],
            centres_report(engine, MINISTRY, 2016)["local_governments"],
            dispatch_report(engine, MINISTRY, 2016)["total"]["activity_total"],
            [r["tenant"] for r in supporters_report(engine, MINISTRY, 2016)["registrars"]])


def test_a_demo_tenant_is_left_out_of_the_national_tables_and_still_seen_by_its_own_prefecture(
        engine, two_prefectures, feed):
    national = _national(engine)
    demo_centre = feed.centre(DEMO_PREF, opened_fy=2012, demo=True)
    case = feed.case(demo_centre)
    feed.consultation(case, "2016-05-01T10:00:00+09:00")
    feed.referral(case, "medical_institution", "2016-05-02")
    feed.decision(case, "2016-06-01")
    dispatch_id = feed.dispatch_started(DEMO_CITY, "2016-06-01")  # a municipality of the demo prefecture
    feed.activity(DEMO_CITY, dispatch_id, "2016-06-02")
    feed.registered(DEMO_PREF, "2016-04-01", "2019-03-31")
    assert _national(engine) == national  # the demo changed no national figure

    demo = principal("prefecture_officer", DEMO_PREF)
    assert consultation_report(engine, demo, 2016)["total"] == 1
    assert centres_report(engine, demo, 2016)["centres"] == 1
    assert [r["tenant"] for r in supporters_report(engine, demo, 2016)["registrars"]] == [DEMO_PREF]
    city = principal("municipal_officer", DEMO_CITY)
    assert dispatch_report(engine, city, 2016)["total"]["activity_total"] == 1


ALL_REPORTS = (consultation_report, referral_report, outcome_report, centres_report, dispatch_report,
               supporters_report, programmes_report)


def test_the_nation_filters_any_prefecture_and_sees_only_its_rows(engine, two_prefectures):
    report = consultation_report(engine, MINISTRY, 2016, prefecture=TOKYO)
    assert {c["tenant"] for c in report["centres"]} == {TOKYO, CHIYODA} and report["total"] == 2
    assert referral_report(engine, MINISTRY, 2016, prefecture=OSAKA)["summary"]["total"] == 1
    assert outcome_report(engine, MINISTRY, 2016, prefecture=OSAKA)["decided"] == 1
    assert centres_report(engine, MINISTRY, 2016, prefecture=TOKYO)["local_governments"] == 2
    assert {r["tenant"] for r in dispatch_report(engine, MINISTRY, 2016, prefecture=OSAKA)["municipalities"]} \
        == {OSAKA_CITY}
    assert [r["tenant"] for r in supporters_report(engine, MINISTRY, 2016, prefecture=OSAKA)["registrars"]] \
        == [OSAKA]
    national_auditor = principal("auditor", "000000")
    assert consultation_report(engine, national_auditor, 2016, prefecture=OSAKA)["total"] == 1


def test_a_prefecture_officer_filters_only_within_its_own_prefecture(engine, two_prefectures):
    tokyo = principal("prefecture_officer", TOKYO)
    for report in ALL_REPORTS:
        assert report(engine, tokyo, 2016, prefecture=TOKYO) == report(engine, tokyo, 2016)
        with pytest.raises(NotAllowed):
            report(engine, tokyo, 2016, prefecture=OSAKA)
    osaka_city = principal("prefecture_officer", OSAKA_CITY)  # a designated city: itself, inside 大阪府
    assert [r["tenant"] for r in dispatch_report(engine, osaka_city, 2016, prefecture=OSAKA)["municipalities"]] \
        == [OSAKA_CITY]
    with pytest.raises(NotAllowed):
        dispatch_report(engine, osaka_city, 2016, prefecture=TOKYO)
    chuo = principal("municipal_officer", CHUO)
    assert dispatch_report(engine, chuo, 2016, prefecture=TOKYO)["total"]["activity_total"] == 1
    with pytest.raises(NotAllowed):  # a centre names no prefecture: it sees its own centre
        consultation_report(engine, principal("centre_staff", two_prefectures[CHIYODA]), 2016, prefecture=TOKYO)


@pytest.mark.parametrize("code", [CHIYODA, "130002", "13000"])
def test_a_prefecture_filter_that_is_no_prefecture_s_code_is_invalid_input(engine, projection, code):
    with pytest.raises(InvalidInput):
        consultation_report(engine, MINISTRY, 2016, prefecture=code)
