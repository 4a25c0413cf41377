"""開示請求 answered with a document the person can read: `tsunagu disclose` and the officer's
GET /v1/audit/subjects/{id}/document render Japanese HTML (and PDF) naming every recipient, with
dates in 和暦 and Western form and the supporter's training record; a screenshot is kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from libs.platform.tools.browser import chromium, run_chromium
from libs.platform.web.auth import mint_token
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.e2e.test_intake_flow import _agency
from tests.e2e.test_registry_lifecycle import APPLICANT, CONSENT, MUNICIPALITY, REGISTRAR, TODAY
from tests.harness import JWT_SECRET, eventually

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SHORT_NOTE = "開示請求対応"  # a short Japanese note: purpose code + note, no minimum length
TRAINEE = {"name": "佐藤みどり", "address_or_affiliation": "NPO法人つなぐ会", "contact": "090-1111-2222"}


def _disclose(tmp_path: Path, name: str, subject: str, token: str, *urls: str, pdf: bool = False) -> tuple[dict, str]:
    out = tmp_path / f"{name}.json"
    args = ["disclose", "--subject", subject, "--purpose", "disclosure_request", "--note", SHORT_NOTE,
            "--token", token, "--out", str(out), *(a for u in urls for a in ("--url", u))]
    if pdf:
        args += ["--pdf", str(tmp_path / f"{name}.pdf")]
    r = subprocess.run([sys.executable, "-m", "libs.platform.tools.cli", *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text()), out.with_suffix(".html").read_text(encoding="utf-8")


def _screenshot(tmp_path: Path, html: str, name: str) -> None:
    if chromium() is None:
        if os.environ.get("TSUNAGU_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is required here (CI) and was not installed by `make browser`")
        return
    page = tmp_path / f"{name}-page.html"
    page.write_text(html, encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    run_chromium("--window-size=1000,1800", f"--screenshot={shot}", page.as_uri())
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_a_persons_disclosure_names_every_recipient_with_dates_in_both_calendars(
        nats_server, start_service, tmp_path):
    intake = start_service("intake", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    agency = _agency(intake, "千代田保健所", "public_health_centre")
    base = f"/v1/cases/{case_id}"
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"{base}/consultations", json={"channel": "phone", "occurred_at": "2016-06-01T10:00:00+09:00",
                                                  "summary": "眠れない日が続く"}).raise_for_status()
        staff.post(f"{base}/share-consents", json={"agency_ids": [agency], "items": ["name", "contact"],
                                                   "explained_on": "2019-04-30",
                                                   "consent_text_version": "v"}).raise_for_status()
        staff.post(f"{base}/disclosures", json={"agency_id": agency, "items": ["name", "contact"],
                                                 "on": "2019-05-01", "purpose": "coordination"}).raise_for_status()

    token = mint_token(JWT_SECRET, sub="pref-dpo", org=PREF, roles=["auditor_pii"])
    document, html = _disclose(tmp_path, "case", case_id, token, intake.url)
    assert document["services"][0]["names"][agency] == "千代田保健所"
    assert '<td class="recipient">千代田保健所</td>' in html and agency not in html.split("保有している記録")[0]
    assert "令和元年5月1日 (2019-05-01)" in html  # the provision, on the first day of 令和
    assert "平成28年6月1日 (2016-06-01)" in html  # the consultation
    assert "平成31年4月30日 (2019-04-30)" in html  # the consent was explained on the last day of 平成
    assert "ご本人の同意" in html and "山田太郎" in html and "眠れない日が続く" in html
    assert "本人からの開示請求への対応" in html  # the purpose code, in words
    assert "東京都ひきこもりサポートネット" in html  # the controller by name, not its id
    _screenshot(tmp_path, html, "disclosure-case")

    # The officer handling the request gets the same document from the service.
    with intake.client(role="auditor_pii", org=PREF) as officer:
        r = officer.get(f"/v1/audit/subjects/{case_id}/document",
                        params={"purpose": "disclosure_request", "note": SHORT_NOTE})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "千代田保健所" in r.text and "令和元年5月1日 (2019-05-01)" in r.text
        r = officer.get(f"/v1/audit/subjects/{case_id}/document", params={"purpose": "開示請求対応"})
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    with intake.client(role="auditor", org="000000") as auditor:
        log = auditor.get("/v1/audit/events", params={"limit": 1000}).json()["data"]
        access = [e["data"] for e in log if e["type"].endswith("PersonalDataAccessed.v2")]
        assert [a["purpose_code"] for a in access] == ["disclosure_request", "disclosure_request"]
        assert SHORT_NOTE not in str(log)  # the short note is accepted, and sealed


def test_a_supporters_disclosure_includes_their_training_record_and_the_roster_recipient(
        nats_server, start_service, tmp_path):
    registry = start_service("registry", nats_server.url)
    with registry.client(role="prefecture_officer", org=REGISTRAR) as officer:
        officer.put("/v1/registrar", json={"max_term_years": 3, "default_term_years": 2,
                                           "consent_text_version": "資料4-v1"}).raise_for_status()
        other = officer.post("/v1/training-courses", json={
            "kind": "initial", "title": "ひきこもりサポーター養成研修", "starts_on": "2019-04-30",
            "ends_on": "2019-05-01", "venue": "都庁第一本庁舎"}).json()
        supporter = officer.post(f"/v1/training-courses/{other['id']}/attendances", json={
            "attended_on": "2019-04-30", "trainee": TRAINEE}).json()["trainee_id"]
        classmate = officer.post(f"/v1/training-courses/{other['id']}/attendances", json={
            "attended_on": "2019-04-30", "trainee": {"name": "別人太郎", "contact": "03-9999-9999"}}).json()
        number = officer.post(f"/v1/training-courses/{other['id']}/completions", json={
            "trainee_id": supporter, "completed_on": "2019-05-01"}).json()["certificate_number"]
        r = officer.post("/v1/registrations", json={"certificate_number": number, "applied_on": "2019-06-01",
                                                     "applicant": APPLICANT, "consent": CONSENT})
        assert r.status_code == 201, r.text
        assert r.json()["id"] == supporter  # one data subject, one id from training on
        officer.post(f"/v1/supporters/{supporter}/approval", json={"issued_on": TODAY.isoformat()}).raise_for_status()
        officer.post("/v1/rosters", json={"municipality": MUNICIPALITY,
                                          "provided_on": TODAY.isoformat()}).raise_for_status()

    token = mint_token(JWT_SECRET, sub="pref-dpo", org=REGISTRAR, roles=["auditor_pii"])
    eventually(lambda: _disclose(tmp_path, "supporter", supporter, token, registry.url)[0]["services"][0]["provisions"])
    document, html = _disclose(tmp_path, "supporter", supporter, token, registry.url, pdf=chromium() is not None)
    kinds = [e["type"].split(".")[3] for e in document["services"][0]["events"]]
    assert "TrainingAttended" in kinds and "TrainingCompleted" in kinds
    assert "TrainingCourseScheduled" not in kinds  # the course's other events are not about them
    training = html.split("研修の受講記録")[1].split("第三者への提供の記録")[0]
    assert "佐藤みどり" in training and "NPO法人つなぐ会" in training and "090-1111-2222" in training
    assert "平成31年4月30日 (2019-04-30)" in training and "令和元年5月1日 (2019-05-01)" in training
    assert "ひきこもりサポーター養成研修（都庁第一本庁舎）" in training  # the course by name, not its id
    assert "昭和35年1月2日 (1960-01-02)" in html and "性別: 女性" in html  # the applicant's details, in words
    assert "別人太郎" not in html and classmate["trainee_id"] not in html  # a classmate's record is theirs
    assert "東京都千代田区" in html  # the roster's recipient
    assert "東京都" in html.split("保有している者")[1].split("</dd>")[0]  # the registrar by name
    _screenshot(tmp_path, html, "disclosure-supporter")
    if chromium() is not None:
        pdf = (tmp_path / "supporter.pdf").read_bytes()
        assert pdf[:5] == b"%PDF-" and len(pdf) > 10_000
        (ARTIFACTS / "disclosure-supporter.pdf").write_bytes(pdf)
