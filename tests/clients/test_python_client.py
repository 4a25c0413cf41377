"""A portal's whole flow through the Python client openapi-python-client generates from
openapi/intake.yaml and openapi/reporting.yaml (issue 18): centre → case → consultation → consent →
referral → report, against running services and a real nats-server. A vendor can copy it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from libs.platform.web.auth import mint_token
from tests.clients.generate import python_client
from tests.harness import JWT_SECRET, eventually

PREF = "130001"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    into = tmp_path_factory.mktemp("generated")
    python_client("intake", into)
    python_client("reporting", into)
    return into


def _client(package: str, url: str, role: str, org: str):
    token = mint_token(JWT_SECRET, sub="portal", org=org, roles=[role])
    return importlib.import_module(package).AuthenticatedClient(base_url=url, token=token,
                                                                raise_on_unexpected_status=True)


def _call(package: str, operation: str):
    """An operation of the generated client, e.g. ("cases", "open_case")."""
    return importlib.import_module(f"{package}.api.{operation}")


def test_a_portal_runs_the_whole_flow_through_the_generated_python_client(generated, nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    pkg = "tsunagu_intake_client"
    models = importlib.import_module(f"{pkg}.models")
    officer = _client(pkg, intake.url, "prefecture_officer", PREF)

    categories = _call(pkg, "code_lists.get_code_list").sync(client=officer, name="agency-categories")
    assert "hello_work" in [c.code for c in categories.codes]
    centre = _call(pkg, "centres.register_centre").sync(client=officer, body=models.CentreCreate.from_dict(
        {"name": "東京都ひきこもりサポートネット", "kind": "adult", "prefecture": PREF}), idempotency_key="centre-1")
    agency = _call(pkg, "agencies.register_agency").sync(client=officer, body=models.AgencyCreate.from_dict(
        {"name": "ハローワーク飯田橋", "category": "hello_work", "municipality": "131016",
         "address": "東京都千代田区1-1", "phone": "03-1111-1111"}), idempotency_key="agency-1")
    listed = _call(pkg, "agencies.list_agencies").sync(client=officer, limit=10)
    assert [a.id for a in listed.data] == [agency.id] and listed.data[0].retired is False

    staff = _client(pkg, intake.url, "centre_staff", str(centre.id))
    case = _call(pkg, "cases.open_case").sync(client=staff, body=models.CaseCreate.from_dict(
        {"centre_id": str(centre.id), "client_kind": "family", "age_group": "adult",
         "personal_details": {"name": "山田太郎"}}), idempotency_key="case-1")
    consultation = _call(pkg, "cases.record_consultation").sync(
        client=staff, case_id=case.id, idempotency_key="consultation-1", body=models.ConsultationCreate.from_dict(
            {"channel": "phone", "occurred_at": "2016-06-01T10:00:00+09:00", "summary": "母親から電話相談"}))
    assert consultation.case_id == case.id and consultation.channel.value == "phone"
    consent = models.ShareConsentCreate.from_dict({"agency_ids": [str(agency.id)], "items": ["name", "contact"],
                                                   "explained_on": "2016-06-01", "consent_text_version": "v1"})
    given = _call(pkg, "cases.consent_to_share").sync_detailed(client=staff, case_id=case.id, body=consent,
                                                                 idempotency_key="consent-1")
    retried = _call(pkg, "cases.consent_to_share").sync_detailed(client=staff, case_id=case.id, body=consent,
                                                                   idempotency_key="consent-1")
    assert (given.status_code, retried.status_code) == (201, 200)
    assert retried.parsed.consent_id == given.parsed.consent_id
    referral = _call(pkg, "cases.refer_to_agency").sync_detailed(
        client=staff, case_id=case.id, idempotency_key="referral-1", body=models.ReferralCreate.from_dict(
            {"agency_id": str(agency.id), "items": ["name"], "referred_on": "2016-06-02"}))
    assert referral.status_code == 201 and referral.parsed.agency_id == agency.id
    assert referral.headers["location"].endswith(str(referral.parsed.referral_id))

    ministry = _client("tsunagu_reporting_client", reporting.url, "ministry", "mhlw")
    report = _call("tsunagu_reporting_client", "reports.get_referral_report")

    def counted():
        body = report.sync(client=ministry, fy=2016)
        return body if body.summary.total == 1 else None

    body = eventually(counted, timeout=60)
    assert {c.code: c.count for c in body.summary.columns}["hello_work"] == 1 and body.label == "平成28年度"
