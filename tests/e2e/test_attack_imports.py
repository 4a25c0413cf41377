"""Attack (h-attack): POST /v1/consultation-imports as a portal vendor would push it: limits,
bodies at and over 1 MiB, concurrent identical imports, another centre's case against a random
id (no oracle), odd bodies; every error problem+json 4xx with the edge's headers, never a 500."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.test_consultation_import import _item, _second_case
from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import log_positions

WHEN = "2016-05-01T10:00:00+09:00"


def _problem(r, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    assert r.headers.get("x-content-type-options") == "nosniff" and r.headers.get("cache-control") == "no-store"
    return r.json()


def test_an_import_refuses_another_centres_case_exactly_like_a_case_that_does_not_exist(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_a = _setup_case(intake)
    _, elsewhere = _setup_case(intake)
    nowhere = str(uuid.uuid4())
    with intake.client(role="centre_staff", org=centre_id) as staff:
        answers = []
        for other in (elsewhere, nowhere):
            r = staff.post("/v1/consultation-imports",
                           json={"consultations": [_item(case_a, WHEN), _item(other, WHEN)]})
            body = _problem(r, 422)
            answers.append(json.dumps(body, sort_keys=True).replace(other, "<id>"))
            # the same for a single consultation
            one = staff.post(f"/v1/cases/{other}/consultations", json={"channel": "phone", "occurred_at": WHEN})
            answers.append(json.dumps(_problem(one, 404), sort_keys=True).replace(other, "<id>"))
        assert answers[0] == answers[2] and answers[1] == answers[3]


def test_an_import_at_and_over_the_limits_answers_4xx_problems(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_a = _setup_case(intake)
    case_b = _second_case(intake, centre_id)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        written = log_positions(intake)
        # Over 1 MiB: 500 items of 8,000-character summaries (each within its own bound).
        huge = [_item(case_a, WHEN, "相" * 8000) for _ in range(500)]
        _problem(staff.post("/v1/consultation-imports", json={"consultations": huge}), 413)
        # The same without Content-Length (chunked).
        raw = json.dumps({"consultations": huge}).encode()
        chunks = [raw[i:i + 65536] for i in range(0, len(raw), 65536)]
        chunked = staff.post("/v1/consultation-imports", content=iter(chunks),
                             headers={"content-type": "application/json"})
        _problem(chunked, 413)
        # One summary over its bound, one field too many, odd shapes, a bad key.
        _problem(staff.post("/v1/consultation-imports", json={"consultations": [_item(case_a, WHEN, "x" * 8001)]}), 422)
        _problem(staff.post("/v1/consultation-imports", json={"consultations": [{**_item(case_a, WHEN), "x": 1}]}), 422)
        for odd in (None, [], {"consultations": None}, {"consultations": {}}, {"consultations": [None]},
                    {"consultations": [{"case_id": "not-a-uuid", "channel": "phone", "occurred_at": WHEN}]},
                    {"consultations": [{**_item(case_a, WHEN), "occurred_at": "2016-05-01T10:00:00"}]}):
            r = staff.post("/v1/consultation-imports", json=odd)
            assert 400 <= r.status_code < 500, (odd, r.status_code, r.text[:300])
        _problem(staff.post("/v1/consultation-imports", content=b"{",
                            headers={"content-type": "application/json"}), 400)
        _problem(staff.post("/v1/consultation-imports", json={"consultations": [_item(case_a, WHEN)]},
                            headers={"Idempotency-Key": "k" * 201}), 422)
        assert log_positions(intake) == written

        # Just under 1 MiB and 500 items across two cases: recorded, all of them.
        items = [_item(case_a if n % 2 else case_b, WHEN, "移" * 600) for n in range(500)]
        raw = json.dumps({"consultations": items}, ensure_ascii=False, separators=(",", ":")).encode()
        assert len(raw) < 1024 * 1024
        r = staff.post("/v1/consultation-imports", content=raw,
                       headers={"Idempotency-Key": "big", "content-type": "application/json"})
        assert r.status_code == 201, r.text[:500]
        assert r.json()["count"] == 500


def test_identical_imports_sent_at_once_record_once(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    centre_id, case_a = _setup_case(intake)
    items = [_item(case_a, WHEN, f"同時 {n}") for n in range(20)]

    def send(_: int):
        with intake.client(role="centre_staff", org=centre_id) as staff:
            return staff.post("/v1/consultation-imports", json={"consultations": items},
                              headers={"Idempotency-Key": "same-batch"})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, range(6)))
    assert sorted(r.status_code for r in answers) == [200] * 5 + [201], [(r.status_code, r.text[:200]) for r in answers]
    assert len({tuple(c["id"] for c in r.json()["data"]) for r in answers}) == 1
    with intake.client(role="centre_staff", org=centre_id) as staff:
        assert staff.get(f"/v1/cases/{case_a}/consultations").json()["count"] == 20
        # Another import with the key, sent at once with the first's retries: refused, nothing written.
        other = [*items[:19], _item(case_a, WHEN, "別")]
        r = staff.post("/v1/consultation-imports", json={"consultations": other},
                       headers={"Idempotency-Key": "same-batch"})
        _problem(r, 422)


def test_an_imports_key_sent_again_with_other_cases_answers_422_reused(nats_server, start_service):
    """application/imports.py scopes each item's key digest by the item's case: the key sent again
    with an import whose first item is on another case is not seen as reused (see
    services/intake/tests/test_attack_import_retry.py): recorded again, or a conflict for ever."""
    intake = start_service("intake", nats_server.url)
    centre_id, case_a = _setup_case(intake)
    case_b = _second_case(intake, centre_id)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        first = staff.post("/v1/consultation-imports",
                           json={"consultations": [_item(case_a, WHEN), _item(case_b, WHEN)]},
                           headers={"Idempotency-Key": "vendor-batch-9"})
        assert first.status_code == 201, first.text
        answers = [staff.post("/v1/consultation-imports", json={"consultations": other},
                              headers={"Idempotency-Key": "vendor-batch-9"})
                   for other in ([_item(case_b, WHEN, "別"), _item(case_b, WHEN, "別二")], [_item(case_b, WHEN, "別")])]
        assert [(r.status_code, r.json().get("type", "").rsplit("/", 1)[-1]) for r in answers] == [
            (422, "idempotency-key-reused")] * 2, [(r.status_code, r.text[:300]) for r in answers]


def test_a_longer_import_with_the_key_of_an_erased_one_answers_4xx_not_500(nats_server, start_service):
    """After an erasure the first item's request digest is forgotten, so of_key answers it whatever
    is sent; the retry's extra items have no row and ImportUseCases._imported asserts (500)."""
    intake = start_service("intake", nats_server.url)
    centre_id, case_a = _setup_case(intake)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        assert staff.post("/v1/consultation-imports", json={"consultations": [_item(case_a, WHEN)]},
                          headers={"Idempotency-Key": "erased-batch"}).status_code == 201
        staff.post(f"/v1/cases/{case_a}/erasure", json={"on": "2016-06-01", "basis": "request_granted"}
                   ).raise_for_status()
        r = staff.post("/v1/consultation-imports", json={"consultations": [_item(case_a, WHEN), _item(case_a, WHEN)]},
                       headers={"Idempotency-Key": "erased-batch"})
        _problem(r, 422)


def test_another_centres_import_key_does_not_reveal_its_case(nats_server, start_service):
    """A key is scoped by each item's case, and the earlier import is looked up (and its request
    digest compared) before the caller's access to the case is checked: a centre sending an
    import with a guessable key ("migration batch 0001", the README's own example) and another
    centre's case id is told `idempotency-key-reused` naming that centre's consultation id,
    where a case id that does not exist gets `invalid-input`."""
    intake = start_service("intake", nats_server.url)
    centre_x, case_x = _setup_case(intake)
    centre_y, _ = _setup_case(intake)
    key = {"Idempotency-Key": "migration batch 0001"}
    with intake.client(role="centre_staff", org=centre_x) as x:
        assert x.post("/v1/consultation-imports", json={"consultations": [_item(case_x, WHEN)]},
                      headers=key).status_code == 201
    with intake.client(role="centre_staff", org=centre_y) as y:
        answers = []
        for case in (case_x, str(uuid.uuid4())):
            r = y.post("/v1/consultation-imports", json={"consultations": [_item(case, WHEN, "推測")]}, headers=key)
            assert 400 <= r.status_code < 500, r.text
            body = r.json()
            errors = json.dumps(body.get("errors"), sort_keys=True).replace(case, "<id>")
            answers.append((r.status_code, body["type"], errors,
                            "resource_id" in body))
        assert answers[0] == answers[1], answers
