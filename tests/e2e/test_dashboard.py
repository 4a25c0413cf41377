"""The reporting dashboard in a real headless Chromium (Debian's package): tables and charts
rendered from the JSON API with the caller's token, and a screenshot made by the test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from libs.platform.web.auth import mint_token
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.e2e.test_intake_flow import _agency
from tests.harness import JWT_SECRET, eventually

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=15000"]


def _chromium(tmp_path: Path, *args: str) -> str:
    profile = tmp_path / "chromium-profile"
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                         capture_output=True, text=True, timeout=120)
    return out.stdout


def test_the_dashboard_renders_the_reports_in_a_real_browser(nats_server, start_service, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("TSUNAGU_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is required here (CI) and was not installed by `make browser`")
        pytest.skip("Debian's chromium is not installed (make browser installs it as root)")
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="prefecture_officer", org=PREF) as officer:
        officer.put(f"/v1/centres/{centre_id}/profile", json={
            "opened_fy": 2015, "municipality": "131016", "address": "東京都千代田区", "phone": "03-0000-0000",
            "hours": {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}).raise_for_status()
    agency = _agency(intake, "ハローワーク飯田橋", "hello_work")
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for when in ("2014-06-01", "2015-06-01", "2016-06-01", "2016-07-01", "2016-08-01"):
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": f"{when}T10:00:00+09:00"}).raise_for_status()
        staff.post(f"/v1/cases/{case_id}/share-consents", json={
            "agency_ids": [agency], "items": ["name"], "explained_on": "2016-06-01",
            "consent_text_version": "v"}).raise_for_status()
        referral = staff.post(f"/v1/cases/{case_id}/referrals", json={"agency_id": agency, "referred_on": "2016-06-02"})
        referral_id = referral.headers["location"].rsplit("/", 1)[1]
        staff.post(f"/v1/cases/{case_id}/referrals/{referral_id}/outcome",
                   json={"outcome": "support_decided", "on": "2016-07-01"}).raise_for_status()
    with reporting.client(role="ministry", org="mhlw") as ministry:
        eventually(lambda: ministry.get("/v1/reports/outcome", params={"fy": 2016}).json()["decided"] == 1)
        assert ministry.get("/dashboard").headers["content-type"].startswith("text/html")

    token = mint_token(JWT_SECRET, sub="viewer", org="mhlw", roles=["ministry"])
    url = f"{reporting.url}/dashboard#token={token}&fy=2016"
    dom = _chromium(tmp_path, "--dump-dom", url)
    assert 'data-ready="yes"' in dom, dom[-2000:]
    assert "平成28年度" in dom and "平成26年度" in dom  # the trend covers five fiscal years
    assert "ハローワーク" in dom and "100.0%" in dom  # the referral table with its 率
    assert 'id="verdict">達成' in dom  # 1 decided > target 0 (no decision per centre in FY2015)
    assert dom.count('class="bar"') >= 5 + 9  # consultation trend + referral mix bars

    # Series over five fiscal years for each ministry table, every number shown equal to the API's.
    shown = {(m["report"], int(m["fy"]), m["key"]): int(m["value"].replace(",", "")) for m in re.finditer(
        r'data-report="(?P<report>\w+)" data-fy="(?P<fy>\d+)" data-key="(?P<key>\w+)">(?P<value>[\d,]+)', dom)}
    assert {(r, fy) for r, fy, _ in shown} == {(r, fy) for r in ("consultations", "referrals", "centres")
                                               for fy in range(2012, 2017)}
    with reporting.client(role="ministry", org="mhlw") as ministry:
        for (name, fy, key), value in shown.items():
            body = ministry.get(f"/v1/reports/{name}", params={"fy": fy}).json()
            expected = (body["summary"]["total"] if key == "total" else
                        {c["code"]: c["count"] for c in body["summary"]["columns"]}[key]) if name == "referrals" \
                else body[key]
            assert value == expected, (name, fy, key)
    assert shown[("consultations", 2016, "total")] == 3 and shown[("centres", 2015, "centres")] == 1
    assert shown[("centres", 2014, "centres")] == 0 and shown[("referrals", 2016, "total")] == 1
    assert 'data-rate="100.0"' in dom or 'data-rate="100"' in dom  # the rate beside the count
    # The prefecture filter, applied by the API (?prefecture=): a prefecture's officer picks its own
    # prefecture's centres, the ministry any prefecture's; the rows shown are the API's filtered ones.
    pref_token = mint_token(JWT_SECRET, sub="pref", org=PREF, roles=["prefecture_officer"])
    filtered = _chromium(tmp_path, "--dump-dom", f"{reporting.url}/dashboard#token={pref_token}&fy=2016&pref=130001")
    assert 'data-ready="yes"' in filtered and '<option value="130001">東京都</option>' in filtered
    assert f'<tr data-tenant="{PREF}"><td>東京都ひきこもりサポートネット</td><td>東京都</td><td>3</td></tr>' in filtered
    with reporting.client(role="ministry", org="mhlw") as ministry:
        api_rows = ministry.get("/v1/reports/consultations", params={"fy": 2016, "prefecture": "130001"}).json()
    by_ministry = _chromium(tmp_path, "--dump-dom", f"{reporting.url}/dashboard#token={token}&fy=2016&pref=130001")
    assert sorted(re.findall(r'<tr data-tenant="(\d+)">', by_ministry)) == sorted(
        c["tenant"] for c in api_rows["centres"])
    elsewhere = _chromium(tmp_path, "--dump-dom", f"{reporting.url}/dashboard#token={pref_token}&fy=2016&pref=270008")
    assert 'data-tenant="' in elsewhere  # a choice not offered falls back to all of the caller's own

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    _chromium(tmp_path, "--window-size=1100,1500", f"--screenshot={shot}", url)
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

    denied = _chromium(tmp_path, "--dump-dom", f"{reporting.url}/dashboard#token=not-a-token&fy=2016")
    assert 'data-ready="error"' in denied and "401" in denied
