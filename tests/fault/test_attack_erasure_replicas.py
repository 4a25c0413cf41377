"""Attack (h-attack on merge-s27): an erasure through replica A while replica B, whose aggregate and
key caches hold the case and the person's key, keeps sealing consultations for that person (its
saves run on the cached case, store/creating.py; their erasure check runs after the LOCK TABLE,
FOR SHARE on the erasure log, and `Sealer.forget` waits for it: privacy/sealing.py). Held when, once
the erasure is answered, no consultation of the case reads back in plaintext through either replica
and B never answers 5xx."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.fault.test_attack_replicas import WHEN, _centre_and_case, _client, pair  # noqa: F401 - fixture
from tests.harness import backend, eventually

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")]
ERASED = "[erased]"
ROUNDS = 4


def test_an_erasure_through_a_while_b_seals_for_the_person_leaves_nothing_readable(pair):  # noqa: F811
    replicas, _ = pair
    for round_ in range(ROUNDS):
        centre, case = _centre_and_case(replicas)
        a, b = _client(replicas, 0, "centre_staff", centre), _client(replicas, 1, "centre_staff", centre)
        answers: list[tuple[int, str]] = []
        errors: list[BaseException] = []
        done = threading.Event()

        def consulting(n: int, case=case, centre=centre, answers=answers, done=done, round_=round_,
                       errors=errors) -> None:
            try:
                # A client of its own: a kept-alive connection is never handed between threads.
                with _client(replicas, 1, "centre_staff", centre) as mine:
                    k = 0
                    while not done.is_set():
                        k += 1
                        r = _post(mine, f"/v1/cases/{case}/consultations", f"{round_}.{n}.{k}",
                                  {"channel": "phone", "occurred_at": WHEN, "summary": f"秘密 {round_}.{n}.{k}"})
                        answers.append((r.status_code, r.text[:300]))
            except BaseException as e:  # noqa: BLE001 - the test fails on it below, not pytest's warning
                errors.append(e)

        with a, b:
            assert b.get(f"/v1/cases/{case}").status_code == 200  # B caches the case (and the key)
            workers = [threading.Thread(target=consulting, args=(n,)) for n in range(2)]
            for w in workers:
                w.start()
            try:
                eventually(lambda answers=answers: sum(s == 201 for s, _ in answers) >= 3)
                for _ in range(20):
                    r = a.post(f"/v1/cases/{case}/erasure", json={"on": "2016-06-01", "basis": "request_granted"})
                    if r.status_code != 409:
                        break
                assert r.status_code in (200, 201, 202), r.text
                seen = len(answers)
                eventually(lambda seen=seen, answers=answers: len(answers) >= seen + 4)  # B goes on after it
            finally:
                done.set()
                for w in workers:
                    w.join(timeout=60)
            assert not errors and not any(w.is_alive() for w in workers), errors
            assert all(s < 500 for s, _ in answers), [x for x in answers if x[0] >= 500][:3]
            for via in (a, b):
                listed = via.get(f"/v1/cases/{case}/consultations", params={"limit": 500})
                assert listed.status_code == 200, listed.text
                readable = [c["summary"] for c in listed.json()["data"] if c["summary"] not in (None, ERASED)]
                assert readable == [], (round_, readable[:5])
                assert len(listed.json()["data"]) == listed.json()["count"], "a page, not the whole list"
            assert {s for s, _ in answers} - {200, 201} != set(), "B never tried after the erasure"


def _post(client: httpx.Client, url: str, key: str, body: dict) -> httpx.Response:
    """POST a creation with an Idempotency-Key, sent again with the same key when the server closed
    the kept-alive connection as the request went out (httpx: "Server disconnected without sending
    a response"; uvicorn closes an idle one after 5 s): no answer, so perhaps created, and the key
    makes the retry answer 200 with that one rather than create a second."""
    for attempt in range(3):
        try:
            return client.post(url, json=body, headers={"Idempotency-Key": key})
        except httpx.RemoteProtocolError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
