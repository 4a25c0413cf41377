"""Attack (h-attack4): imports below the aggregate machinery (Case.record_consultations; on SQLite
the events' ids counted back from last_insert_rowid()) sent at the same time as single
consultations on the same cases by several clients, with and without If-Match and
Idempotency-Key. Afterwards: every ledger row at its event's version and naming its event's
consultation, every notification id the position of the event it names, the stream the log once
in order and chained, audit verify ok, and each case's ETag (read from the aggregate cache) the
version a following If-Match command takes. Also the shapes a portal sends: 500 items on one
case, 1 item on each of 500 cases, and one bad item among 500 (nothing stored, the 422 names it)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from tests.e2e.test_consultation_import import _item, _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import assert_stream_is_the_log_once, eventually, log_positions, published

WHEN = "2016-05-01T10:00:00+09:00"


def _check_log(intake: Any, nats_url: str, cases: list[str]) -> None:
    """Ledger rows at their events' versions, notification ids the events' positions, the stream
    the log once and chained, audit verify ok."""
    app = intake.runtime.application
    table = app.recorder.creations
    with app.recorder.datastore.engine.connect() as conn:
        ledger = {(r["aggregate_id"], r["version"]): r["resource_id"]
                  for r in conn.execute(select(table).where(table.c.kind == "consultation")).mappings()}
    by_position = {n.id: n for n in app.recorder.select_notifications(start=None, limit=100_000)}
    for case in cases:
        events = list(app.events.get(case))
        assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
        recorded = {e.originator_version: str(e.consultation_id) for e in events
                    if type(e).__name__ == "ConsultationRecorded"}
        mine = {v: r for (a, v), r in ledger.items() if a == case}
        assert mine == recorded, case  # each row at its event's version, naming its consultation
        stored = {(n.originator_version): n for n in by_position.values() if str(n.originator_id) == case}
        assert sorted(stored) == sorted(e.originator_version for e in events)
        for e in app.recorder.select_events(case):
            assert stored[e.originator_version].state == e.state  # the id names this very event
    everything = log_positions(intake)
    assert everything == sorted(by_position)
    eventually(lambda: len(published(intake, nats_url)) == len(everything))
    assert_stream_is_the_log_once(intake, nats_url)
    with intake.client(role="auditor", org="000000") as auditor:
        eventually(lambda: auditor.get("/v1/audit/verify").json()["relay_position"] == everything[-1])
        verdict = auditor.get("/v1/audit/verify").json()
        assert verdict["verified"], verdict


def _follow_with_if_match(intake: Any, centre_id: str, cases: list[str]) -> None:
    """Each case's ETag is the version a following If-Match command takes, and one behind is refused."""
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for case in cases:
            etag = staff.get(f"/v1/cases/{case}").headers["etag"]
            stale = f'"{int(etag.strip(chr(34))) - 1}"'
            r = staff.post(f"/v1/cases/{case}/consultations", headers={"If-Match": stale},
                           json={"channel": "phone", "occurred_at": WHEN})
            assert r.status_code in (409, 412), r.text
            r = staff.post(f"/v1/cases/{case}/consultations", headers={"If-Match": etag},
                           json={"channel": "phone", "occurred_at": WHEN})
            assert r.status_code == 201, r.text


def test_imports_and_single_consultations_on_the_same_cases_at_once_keep_ledger_ids_and_chain(
        nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, first = _setup_case(intake)
    cases = [first, *(_second_case(intake, centre_id) for _ in range(2))]
    go = threading.Barrier(6)
    answers: list[int] = []
    conflicts: list[int] = []

    def importer(n: int) -> None:
        with intake.client(role="centre_staff", org=centre_id) as staff:
            go.wait()
            for k in range(6):
                items = [_item(cases[(j + n) % 3], WHEN, f"移行 {n}.{k}.{j}") for j in range(40)]
                headers = {"Idempotency-Key": f"mix {n} {k}"} if k % 2 else {}
                # No 409 without If-Match (issue 15): 2-3 of these 18 lost every optimistic attempt
                # before the last ones held the write lock (store/commuting.py); sent again if one does.
                while (r := staff.post("/v1/consultation-imports", json={"consultations": items},
                                       headers=headers)).status_code == 409:
                    conflicts.append(n)
                answers.append(r.status_code)
                if k % 2:  # the same import again: answered, not recorded twice
                    again = staff.post("/v1/consultation-imports", json={"consultations": items}, headers=headers)
                    assert again.status_code == 200, again.text

    def single(n: int) -> None:
        with intake.client(role="centre_staff", org=centre_id) as staff:
            go.wait()
            for k in range(30):
                case = cases[k % 3]
                headers = {"Idempotency-Key": f"one {n} {k}"} if k % 2 else {}
                if k % 3 == 0:
                    headers["If-Match"] = staff.get(f"/v1/cases/{case}").headers["etag"]
                r = staff.post(f"/v1/cases/{case}/consultations", headers=headers,
                               json={"channel": "visit", "occurred_at": WHEN, "summary": f"単 {n}.{k}"})
                lost = "If-Match" in headers and r.status_code in (409, 412)  # a lost If-Match race: refused
                answers.append(201 if lost else r.status_code)

    with ThreadPoolExecutor(6) as pool:
        for f in [*(pool.submit(importer, n) for n in range(3)), *(pool.submit(single, n) for n in range(3))]:
            f.result()
    print(f"imports refused 409 and sent again: {len(conflicts)}")
    assert set(answers) == {201}, answers
    assert conflicts == []
    _check_log(intake, nats_server.url, cases)
    _follow_with_if_match(intake, centre_id, cases)


def test_an_import_of_500_on_one_case_then_1_on_each_of_500_cases_and_one_bad_item(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case = _setup_case(intake)
    with ThreadPoolExecutor(4) as pool:  # the cases are the setup, not what is tested: made 4 at a time
        many = [*pool.map(lambda _: _second_case(intake, centre_id), range(499)), case]
    with intake.client(role="centre_staff", org=centre_id) as staff:
        began = int(staff.get(f"/v1/cases/{case}").headers["etag"].strip('"'))
        on_one = [_item(case, WHEN, f"{n}") for n in range(500)]
        r = staff.post("/v1/consultation-imports", json={"consultations": on_one})
        assert r.status_code == 201, r.text
        r = staff.post("/v1/consultation-imports", json={"consultations": [_item(c, WHEN, c) for c in many]})
        assert r.status_code == 201, r.text
        written = log_positions(intake)
        bad = [_item(c, WHEN, c) for c in many]
        bad[377] = _item(many[377], "2999-01-01T00:00:00+09:00")  # in the future
        r = staff.post("/v1/consultation-imports", json={"consultations": bad}, headers={"Idempotency-Key": "bad"})
        assert r.status_code == 422, r.text
        errors = r.json()["errors"]
        assert [e["loc"][:3] for e in errors] == [["body", "consultations", "377"]], errors
        assert log_positions(intake) == written  # nothing stored
        bad[377] = _item(many[377], WHEN, "fixed")  # the key with the corrected import: recorded
        r = staff.post("/v1/consultation-imports", json={"consultations": bad}, headers={"Idempotency-Key": "bad"})
        assert r.status_code == 201, r.text
        assert staff.get(f"/v1/cases/{case}").headers["etag"] == f'"{began + 502}"'
    _check_log(intake, nats_server.url, many)
    _follow_with_if_match(intake, centre_id, [case, many[0], many[377]])
