"""Exports in the ministry's table shape: CSV (UTF-8 with BOM) and XLSX, over HTTP too."""

from __future__ import annotations

import csv
import io
import warnings
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from libs.platform.tools.openapi import _offline_settings
from libs.platform.web.auth import Authenticator, mint_token
from services.reporting.bootstrap import create_app
from services.reporting.exports import export_report
from services.reporting.exports.tables import BUILDERS
from services.reporting.projections import ReportingProjection
from services.reporting.tests.conftest import CHIYODA, MINISTRY, TOKYO

with warnings.catch_warnings():  # starlette's notice about httpx, raised on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SUMMARY_HEADER = ["年度", "関係機関", "精神保健福祉センター", "保健所・保健センター", "医療機関", "NPO法人等",
                  "地域若者サポートステーション", "ハローワーク", "児童相談所", "福祉事務所", "その他", "総計"]
SECRET = "reporting-test-secret-" + "x" * 32


@pytest.fixture
def referrals_2016(feed):
    case = feed.case(feed.centre(TOKYO, opened_fy=2012))
    for category in ("mental_health_welfare_centre", "mental_health_welfare_centre", "hello_work"):
        feed.referral(case, category, "2016-06-01")
    feed.referral(case, "medical_institution", "2015-06-01")


def _worksheet(content: bytes) -> Worksheet:
    sheet = load_workbook(io.BytesIO(content)).active
    assert isinstance(sheet, Worksheet), f"the workbook opens on {sheet!r}, not a worksheet"
    return sheet


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_the_summary_csv_starts_with_the_bom_and_has_the_ministrys_header_count_and_rate_rows(engine, referrals_2016):
    export = export_report(engine, MINISTRY, "referrals", 2016, fmt="csv", from_fy=2015)
    assert export.content.startswith(b"\xef\xbb\xbf")
    assert export.media_type == "text/csv; charset=utf-8"
    rows = _csv_rows(export.content)
    assert rows[0] == SUMMARY_HEADER
    assert rows[1] == ["平成27年度", "", "0", "0", "1", "0", "0", "0", "0", "0", "0", "1"]
    assert rows[3] == ["平成28年度", "", "2", "0", "0", "0", "0", "1", "0", "0", "0", "3"]
    assert rows[4] == ["", "率", "66.7%", "0.0%", "0.0%", "0.0%", "0.0%", "33.3%", "0.0%", "0.0%", "0.0%", ""]
    assert export.filename == "tsunagu-referrals-fy2015-2016.csv"
    assert export.filename_ja == "関係機関につないだ件数_平成27年度～平成28年度.csv"


def test_the_detailed_xlsx_opens_with_openpyxl_and_has_the_21_categories_in_the_header(engine, referrals_2016):
    export = export_report(engine, MINISTRY, "referrals-detailed", 2016, fmt="xlsx")
    assert export.media_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = _worksheet(export.content)
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["年度", "関係機関", "福祉事務所", "福祉事務所以外の市区町村窓口"]
    assert header[-1] == "総計" and len(header) == 2 + 21 + 1 and header.count("ハローワーク") == 1
    counts, rates = [c.value for c in sheet[2]], sheet[3]
    assert counts[0] == "平成28年度" and counts[-1] == 3
    assert rates[1].value == "率" and rates[10].value == pytest.approx(0.667) and rates[10].number_format == "0.0%"


@pytest.mark.parametrize("table", sorted(BUILDERS))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_table_exports_in_both_formats(engine, referrals_2016, feed, table, fmt):
    feed.activity(CHIYODA, feed.dispatch_started(CHIYODA, "2016-06-01"), "2016-06-02")
    export = export_report(engine, MINISTRY, table, 2016, fmt=fmt)
    header: list[object] = (list(_csv_rows(export.content)[0]) if fmt == "csv"
                            else [c.value for c in _worksheet(export.content)[1]])
    assert header[0] == "年度"


def test_the_centres_table_is_the_seeds_three_columns(engine, referrals_2016):
    rows = _csv_rows(export_report(engine, MINISTRY, "centres", 2013, fmt="csv").content)
    assert rows == [["年度", "新規", "累計"], ["平成21年度", "0", "0"], ["平成22年度", "0", "0"],
                    ["平成23年度", "0", "0"], ["平成24年度", "1", "1"], ["平成25年度", "0", "1"]]


# -- over HTTP, with the service's routes on a runtime that has no NATS -------------------------
@pytest.fixture
def client(engine, projection):
    settings = _offline_settings("reporting")
    app = create_app(settings)
    # No lifespan (it would connect to NATS): the routes need the engine, the authenticator, settings.
    app.state.runtime = SimpleNamespace(engine=engine, authenticator=Authenticator(secret=SECRET), settings=settings,
                                        get={ReportingProjection: projection}.__getitem__, consumers=[])
    return TestClient(app)


def _auth(role: str, org: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, sub='t', org=org, roles=[role])}"}


def test_the_export_endpoint_sends_the_file_with_its_media_type_and_content_disposition(client, referrals_2016):
    r = client.get("/v1/reports/referrals/export", params={"fy": 2016, "format": "xlsx"},
                   headers=_auth("ministry", "mhlw"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"tsunagu-referrals-fy2016.xlsx\"; "
        f"filename*=UTF-8''{quote('関係機関につないだ件数_平成28年度.xlsx')}")
    assert [c.value for c in _worksheet(r.content)[1]] == SUMMARY_HEADER
    r = client.get("/v1/reports/referrals/export", params={"fy": 2016}, headers=_auth("prefecture_officer", TOKYO))
    assert r.headers["content-type"] == "text/csv; charset=utf-8" and r.content.startswith(b"\xef\xbb\xbf")


def test_the_json_reports_answer_with_fy_and_label_and_refuse_callers_without_rights(client, referrals_2016):
    for path in ("consultations", "referrals", "outcome", "centres", "supporters", "dispatch"):
        r = client.get(f"/v1/reports/{path}", params={"fy": 2016}, headers=_auth("ministry", "mhlw"))
        assert r.status_code == 200, (path, r.text)
        assert (r.json()["fy"], r.json()["label"]) == (2016, "平成28年度")
    r = client.get("/v1/reports/referrals", params={"fy": 2016}, headers=_auth("municipal_officer", CHIYODA))
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/reports/dispatch/export", params={"fy": 2016}).status_code == 401


@pytest.mark.parametrize("params", [
    {"fy": 2016, "format": "pdf"}, {"fy": 2016, "from_fy": 2017}, {"fy": 1999},
    {"fy": 2016, "as_of": "2017-04-30T23:59:59"},  # no timezone
])
def test_bad_export_parameters_are_a_422_problem(client, params):
    r = client.get("/v1/reports/referrals/export", params=params, headers=_auth("ministry", "mhlw"))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text


def test_an_unknown_table_is_a_422_problem(client):
    r = client.get("/v1/reports/budget/export", params={"fy": 2016}, headers=_auth("ministry", "mhlw"))
    assert r.status_code == 422


def test_as_of_over_http_is_an_iso_instant_with_offset(client, referrals_2016):
    r = client.get("/v1/reports/referrals", params={"fy": 2016, "as_of": "2016-05-31T23:59:59+09:00"},
                   headers=_auth("ministry", "mhlw"))
    assert r.status_code == 200 and r.json()["summary"]["total"] == 0


def test_while_the_read_models_replay_every_report_export_and_submission_is_a_503_with_the_progress(
        client, projection, referrals_2016):
    projection.rebuild(by="operator@mhlw")
    projection.record_targets(projection.replay_state().generation, {"INTAKE": 7, "REGISTRY": 0, "DISPATCH": 0})
    ministry = _auth("ministry", "mhlw")
    for path in ("consultations", "referrals", "outcome", "centres", "programmes", "supporters", "dispatch",
                 "referrals/export", "consultations/submissions"):
        r = client.get(f"/v1/reports/{path}", params={"fy": 2016}, headers=ministry)
        assert r.status_code == 503, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) >= 1
        body = r.json()
        assert body["type"] == "https://tsunagu.jp/problems/projection-replaying"
        assert body["replay"]["state"] == "replaying"
        assert {"stream": "INTAKE", "position": 0, "target": 7, "remaining": 7} in body["replay"]["streams"]
    r = client.post("/v1/reports/referrals/submissions", params={"fy": 2016}, headers=_auth("ministry", "mhlw"))
    assert r.status_code == 503  # a table computed from a replay is never submitted


def test_a_report_says_from_which_stream_positions_it_was_computed(client, referrals_2016):
    r = client.get("/v1/reports/referrals", params={"fy": 2016}, headers=_auth("ministry", "mhlw"))
    assert r.status_code == 200
    assert r.json()["computed_from"] == {"positions": {"INTAKE": 7}, "lag": {}}
    assert r.headers["tsunagu-stream-positions"] == "intake=7"
    r = client.get("/v1/reports/referrals/export", params={"fy": 2016}, headers=_auth("ministry", "mhlw"))
    assert r.status_code == 200 and r.headers["tsunagu-stream-positions"] == "intake=7"
