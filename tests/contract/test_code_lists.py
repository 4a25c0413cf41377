"""Code lists as resources (issue 18): every enum of openapi/*.yaml that is a code list is the list
the service serves at /v1/code-lists/{name}, code for code and in order; every list a service's
requests take is in its index; the lists hold the domain's own tuples."""

from __future__ import annotations

from typing import Any, get_args

import pytest
import yaml
from fastapi.testclient import TestClient

from libs.domain import agencies, audit, intake, legal_bases
from libs.domain.code_lists import CODE_LISTS, served_by
from libs.platform.tools.openapi import OPENAPI_DIR, SERVICES, _offline_settings
from libs.platform.web.code_lists import EXTENSION


def _code_list_enums(node: Any, where: str = "") -> list[tuple[str, str, list[str]]]:
    """(where, list name, enum) of every schema node marked as a code list."""
    found = []
    if isinstance(node, dict):
        if EXTENSION in node:
            found.append((where, node[EXTENSION], node.get("enum")))
        for key, value in node.items():
            found += _code_list_enums(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _code_list_enums(value, f"{where}/{i}")
    return found


@pytest.fixture(scope="module")
def clients() -> dict[str, TestClient]:
    import importlib
    # The routes of code lists touch nothing the lifespan builds: the app alone answers them.
    return {s: TestClient(importlib.import_module(f"services.{s}.bootstrap").create_app(_offline_settings(s)))
            for s in SERVICES}


def test_every_code_list_enum_of_the_committed_documents_is_the_list_the_service_serves(clients):
    checked = 0
    for service in SERVICES:
        document = yaml.safe_load((OPENAPI_DIR / f"{service}.yaml").read_text())
        served = {}
        for where, name, enum in _code_list_enums(document):
            if name not in served:
                r = clients[service].get(f"/v1/code-lists/{name}")
                assert r.status_code == 200, (service, name, r.text)
                served[name] = [c["code"] for c in r.json()["codes"]]
            assert enum == served[name], (service, where, name)
            checked += 1
        index = clients[service].get("/v1/code-lists").json()["data"]
        assert set(served) <= {entry["name"] for entry in index}, service
    assert checked >= 20  # the request schemas do use the lists


def test_the_requests_that_take_a_category_a_channel_a_legal_basis_state_the_list_as_an_enum():
    document = yaml.safe_load((OPENAPI_DIR / "intake.yaml").read_text())
    schemas = document["components"]["schemas"]
    assert schemas["AgencyCreate"]["properties"]["category"]["enum"] == [c.code for c in agencies.CATEGORIES]
    assert schemas["ShareConsentCreate"]["properties"]["categories"]["items"][EXTENSION] == "agency-categories"
    assert schemas["ConsultationCreate"]["properties"]["channel"]["enum"] == list(intake.CHANNELS)
    assert schemas["LegalBasisCreate"]["properties"]["code"]["enum"] == list(legal_bases.CODES)


def test_the_agency_categories_carry_labels_version_and_their_summary_column(clients):
    r = clients["intake"].get("/v1/code-lists/agency-categories")
    body = r.json()
    assert body["version"] == agencies.VERSION and r.headers["etag"]
    by_code = {c["code"]: c for c in body["codes"]}
    assert len(by_code) == 21
    assert by_code["private_support_group"]["label"] == "民間支援団体(当事者団体・NPO法人等)"
    assert by_code["private_support_group"]["attributes"] == {"summary_column": "npo", "summary_label": "NPO法人等"}
    columns = clients["reporting"].get("/v1/code-lists/agency-summary-columns").json()["codes"]
    assert [c["code"] for c in columns] == [code for code, _ in agencies.SUMMARY_COLUMNS]
    assert {c["attributes"]["summary_column"] for c in body["codes"]} == {c["code"] for c in columns}
    again = clients["intake"].get("/v1/code-lists/agency-categories", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_a_service_serves_the_lists_its_requests_take_and_no_other(clients):
    for service in SERVICES:
        index = {e["name"] for e in clients[service].get("/v1/code-lists").json()["data"]}
        assert index == {cl.name for cl in served_by(service)}, service
    r = clients["registry"].get("/v1/code-lists/channels")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert clients["intake"].get("/v1/code-lists/nonsense").status_code in (404, 422)


def test_the_lists_hold_the_domains_tuples_and_types():
    assert CODE_LISTS["legal-bases"].values == legal_bases.CODES == get_args(legal_bases.LegalBasisCode)
    assert CODE_LISTS["statutes"].values == legal_bases.STATUTE_CODES == get_args(legal_bases.StatuteCode)
    assert CODE_LISTS["access-purposes"].values == tuple(audit.PURPOSES) == get_args(audit.PurposeCode)
    assert CODE_LISTS["share-items"].values == intake.SHARE_ITEMS
    for cl in CODE_LISTS.values():
        assert len(set(cl.values)) == len(cl.values) and all(c.label for c in cl.codes), cl.name
