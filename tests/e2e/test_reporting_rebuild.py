"""Reporting can be dropped and rebuilt from the streams, online or offline, and never answers from
half a replay (issue 13); it answers "as of" a past instant."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from services.reporting.projections import ReportingProjection
from services.reporting.rebuild import ReportingIsRunning, rebuild
from tests.e2e.test_consultation_slice import PREF, _setup_case
from tests.harness import eventually

REPORTS = ("consultations", "referrals", "outcome", "centres")
REPLAYING = "https://tsunagu.jp/problems/projection-replaying"


def _snapshot(reporting) -> dict:
    """Every report, without the positions they were computed from (those move)."""
    with reporting.client(role="ministry", org="mhlw") as ministry:
        answers = {name: ministry.get(f"/v1/reports/{name}", params={"fy": 2016}) for name in REPORTS}
    assert all(r.status_code == 200 for r in answers.values()), {n: r.text for n, r in answers.items()}
    return {name: {k: v for k, v in r.json().items() if k != "computed_from"} for name, r in answers.items()}


def _consultations(intake, reporting, times: int) -> tuple[str, str, dict]:
    """A case with `times` consultations in FY2016; the live reports once they count them all."""
    centre_id, case_id = _setup_case(intake)
    for month in range(times):
        _consult(intake, centre_id, case_id, f"2016-{month + 5:02}-01")
    return centre_id, case_id, eventually(lambda: (s := _snapshot(reporting))["consultations"]["total"] == times and s)


def _consult(intake, centre_id: str, case_id: str, day: str) -> None:
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": f"{day}T10:00:00+09:00"}).raise_for_status()


def _watch(reporting, total: int, seconds: float, *, until_whole: bool = False) -> list[int]:
    """Ask for a report again and again (for `seconds`, or until it is whole again): each answer is
    the whole truth or a 503 that says it is replaying (with Retry-After), never partial numbers.
    Returns the statuses seen."""
    statuses: list[int] = []
    deadline = time.monotonic() + seconds
    with reporting.client(role="ministry", org="mhlw") as ministry:
        # At least one answer, however slow the machine: an empty list would prove nothing.
        while (not statuses or time.monotonic() < deadline) and not (until_whole and statuses and statuses[-1] == 200):
            r = ministry.get("/v1/reports/consultations", params={"fy": 2016})
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert r.json()["type"] == REPLAYING and int(r.headers["retry-after"]) >= 1, r.text
            else:
                assert r.status_code == 200 and r.json()["total"] == total, r.text
            time.sleep(0.02)
    return statuses


def test_an_offline_rebuild_while_reporting_runs_is_refused_and_the_reports_stay_whole(nats_server, start_service):
    # The fault of issue 13: it exited 0 and the live service answered 200 with every table at zero
    # (and, with consumers started at their position + 1, the next event made the loss permanent).
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id, _ = _consultations(intake, reporting, 3)
    with pytest.raises(ReportingIsRunning, match="tsunagu rebuild"):
        rebuild(reporting.runtime.engine)
    assert set(_watch(reporting, 3, 1.0)) == {200}
    _consult(intake, centre_id, case_id, "2016-09-01")
    eventually(lambda: _snapshot(reporting)["consultations"]["total"] == 4)


def test_read_models_emptied_under_the_live_service_are_replayed_and_never_answer_partial_numbers(
        nats_server, start_service):
    # As if an offline rebuild got past the heartbeat check (a service frozen for longer than it
    # allows): the live consumers were mid-stream; they start again from 1, and the reports say so.
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id, live = _consultations(intake, reporting, 3)
    ReportingProjection(reporting.runtime.engine, check_shape=False).rebuild(by="a frozen process", drop=True)
    statuses = _watch(reporting, 3, 60.0, until_whole=True)
    assert statuses[0] == 503 and statuses[-1] == 200 and _snapshot(reporting) == live
    _consult(intake, centre_id, case_id, "2016-09-01")  # and the stream goes on from where it is
    eventually(lambda: _snapshot(reporting)["consultations"]["total"] == 4)
    assert reporting.runtime.get(ReportingProjection).replay_state().public()["state"] == "done"


def test_an_operator_rebuilds_reporting_online_and_sees_the_replay_until_it_is_whole(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    _, _, live = _consultations(intake, reporting, 3)
    with reporting.client(role="ministry", org="mhlw") as ministry:
        assert ministry.post("/v1/ops/rebuild").status_code == 403
    nats_server.stop()  # the replay can neither read the streams' ends nor advance until NATS is back
    with reporting.client(role="operator", org="ops", sub="ops@mhlw") as operator:
        r = operator.post("/v1/ops/rebuild")
        assert r.status_code == 202, r.text
        assert (r.json()["state"], r.json()["started_by"]) == ("replaying", "ops@mhlw")
        again = operator.post("/v1/ops/rebuild")
        assert again.status_code == 409 and again.json()["type"] == "https://tsunagu.jp/problems/rebuild-in-progress"
        with reporting.client(role="ministry", org="mhlw") as ministry:
            for path in ("consultations", "referrals/export"):
                r = ministry.get(f"/v1/reports/{path}", params={"fy": 2016})
                assert r.status_code == 503 and r.json()["type"] == REPLAYING, r.text
                assert int(r.headers["retry-after"]) >= 1 and r.json()["replay"]["state"] == "replaying"
        replaying = eventually(lambda: [loop["name"] for loop in operator.get("/readyz").json()["checks"]["loops"]
                                        if loop.get("replaying")])
        assert set(replaying) == {"reporting-intake", "reporting-registry", "reporting-dispatch"}
        metrics = operator.get("/metrics").text.splitlines()
        assert [line.rsplit(" ", 1)[1] for line in metrics
                if line.startswith("tsunagu_loop_replaying{") and 'name="reporting-intake"' in line] == ["1.0"]
        nats_server.start()
        eventually(lambda: _snapshot(reporting) == live, timeout=30)
        done = eventually(lambda: (p := operator.get("/v1/ops/rebuild").json())["state"] == "done" and p)
        intake_progress = next(s for s in done["streams"] if s["stream"] == "INTAKE")
        assert intake_progress["position"] >= intake_progress["target"] > 0 and done["finished_at"]
        # /readyz shows what the replay job last saw (every 0.5 s): wait for it
        eventually(lambda: not [loop for loop in operator.get("/readyz").json()["checks"]["loops"]
                                if loop.get("replaying")])


def test_rebuilt_reports_equal_the_live_ones_and_as_of_shows_the_past(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for day in ("2016-05-01", "2016-06-01"):
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": f"{day}T10:00:00+09:00"}).raise_for_status()
    eventually(lambda: _snapshot(reporting)["consultations"]["total"] == 2)
    between = datetime.now(UTC).isoformat()
    with intake.client(role="centre_staff", org=centre_id) as staff:
        staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "visit", "occurred_at": "2016-07-01T10:00:00+09:00"}).raise_for_status()
    live = eventually(lambda: (s := _snapshot(reporting))["consultations"]["total"] == 3 and s)

    reporting.stop()
    rebuild(reporting.runtime.engine)
    assert _rows(reporting) == 0
    reporting.start()  # the runner sees its durable ahead of the reset position and replays
    rebuilt = eventually(lambda: (s := _snapshot(reporting))["consultations"]["total"] == 3 and s)
    assert rebuilt == live

    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        past = pref.get("/v1/reports/consultations", params={"fy": 2016, "as_of": between}).json()
    assert past["total"] == 2


def _rows(reporting) -> int:
    from sqlalchemy import func, select

    from services.reporting.projections import metadata

    table = metadata.tables["rp_consultations"]
    with reporting.runtime.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_voided_consultation_changes_its_year_and_the_submitted_report_shows_it(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    reporting = start_service("reporting", nats_server.url)
    centre_id, case_id = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        ids = [staff.post(f"/v1/cases/{case_id}/consultations", json={
            "channel": "phone", "occurred_at": "2016-05-01T10:00:00+09:00"}).json()["id"] for _ in range(2)]
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        eventually(lambda: pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"] == 2)
        submitted = pref.post("/v1/reports/consultations/submissions", params={"fy": 2016})
        assert submitted.status_code == 201, submitted.text
        assert not pref.get("/v1/reports/consultations/submissions",
                            params={"fy": 2016}).json()["data"][0]["changed_since_submission"]
    with intake.client(role="centre_staff", org=centre_id) as staff:  # entered twice: void one
        r = staff.post(f"/v1/cases/{case_id}/consultations/{ids[1]}/void", json={"reason": "duplicate_entry",
                                                                                 "on": "2016-05-02"})
        assert r.status_code == 200 and r.json()["consultation_count"] == 1
        again = staff.post(f"/v1/cases/{case_id}/consultations/{ids[1]}/void", json={"reason": "duplicate_entry",
                                                                                     "on": "2016-05-02"})
        assert again.status_code == 409
    with reporting.client(role="prefecture_officer", org=PREF) as pref:
        eventually(lambda: pref.get("/v1/reports/consultations", params={"fy": 2016}).json()["total"] == 1)
        row = pref.get("/v1/reports/consultations/submissions", params={"fy": 2016}).json()["data"][0]
        assert row["changed_since_submission"]
        assert {"path": "total", "submitted": 2, "current": 1} in row["changes"]
        as_submitted = pref.get("/v1/reports/consultations", params={"fy": 2016, "as_of": row["submitted_at"]})
        assert as_submitted.json()["total"] == 2  # the report as it stood when it was submitted
        assert pref.get("/v1/reports/nonsense/submissions", params={"fy": 2016}).status_code == 404


def test_a_request_the_caller_may_not_make_is_refused_even_while_the_read_models_replay(nats_server, start_service):
    """CI once saw a 503 for a 403 on the first request to a just-started reporting: it starts on
    empty read models, a replay until its job has read the streams' ends. With the bus down that
    replay lasts: the scope is still refused first (403, or 422 for no prefecture's code)."""
    nats_server.stop()
    reporting = start_service("reporting", nats_server.url)
    with reporting.client(role="prefecture_officer", org="130001") as tokyo, \
            reporting.client(role="municipal_officer", org="131016") as town:
        replaying = tokyo.get("/v1/reports/consultations", params={"fy": 2016, "prefecture": "130001"})
        assert replaying.status_code == 503 and replaying.json()["type"] == REPLAYING, replaying.text
        refused = {
            "outside": tokyo.get("/v1/reports/consultations", params={"fy": 2016, "prefecture": "140007"}),
            "no prefecture's code": tokyo.get("/v1/reports/referrals", params={"fy": 2016, "prefecture": "130000"}),
            "tenants outside": tokyo.get("/v1/reports/supporters", params={"fy": 2016, "prefecture": "140007"}),
            "not a centres reader": town.get("/v1/reports/outcome", params={"fy": 2016}),
        }
    assert {k: r.status_code for k, r in refused.items()} == {
        "outside": 403, "no prefecture's code": 422, "tenants outside": 403, "not a centres reader": 403,
    }, {k: r.text for k, r in refused.items()}


def test_exports_and_submissions_refuse_a_caller_out_of_scope_before_saying_the_read_models_replay(
        nats_server, start_service):
    """Attack on h-tidy: the reports check the scope before the replay state, the exports and the
    submissions did not; a caller with no right to a table learnt the replay state (and the 503's
    progress) instead of its 403."""
    nats_server.stop()
    reporting = start_service("reporting", nats_server.url)
    with reporting.client(role="municipal_officer", org="131016") as town, \
            reporting.client(role="supporter", org="131016") as outsider:
        refused = {
            "export of a centres table": town.get("/v1/reports/consultations/export", params={"fy": 2016}),
            "export by no reader": outsider.get("/v1/reports/supporters/export", params={"fy": 2016}),
            "submission by no submitter": outsider.post("/v1/reports/consultations/submissions", params={"fy": 2016}),
            "submissions listed by no reader": outsider.get("/v1/reports/consultations/submissions",
                                                            params={"fy": 2016}),
        }
        # A request that can never succeed is not told to come back later either: its 422 (or 403) first.
        malformed = {
            "a prefecture not of the pattern, by no reader": outsider.get(
                "/v1/reports/consultations", params={"fy": 2016, "prefecture": "13"}),
            "a year out of bounds": town.get("/v1/reports/supporters", params={"fy": 1999}),
        }
    answers = {**refused, **malformed}
    assert {k: r.status_code for k, r in answers.items()} == {**dict.fromkeys(refused, 403),
                                                              **dict.fromkeys(malformed, 422)}, \
        {k: r.text[:120] for k, r in answers.items()}
