"""Attack (h-attack): two intake replicas on PostgreSQL, each with its aggregate cache. What one
replica wrote, the other must read and build on at once (the cache fast-forwards to the log);
an erasure through one is seen through the other; an import through one is counted through the
other; and kill -9 of a replica in the middle of imports loses and duplicates nothing on the stream."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest

from libs.platform.web.auth import mint_token
from soak.ha import Replicas, Tally, check, intake_pair
from tests.harness import TLS, backend, eventually

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")]
PREF = "130001"
WHEN = "2016-05-01T10:00:00+09:00"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replicas, str]]:
    with intake_pair(tmp_path_factory.mktemp("attack-replicas")) as pair:
        yield pair


def _client(replicas: Replicas, i: int, role: str, org: str) -> httpx.Client:
    token = mint_token(replicas.secret, sub="attack", org=org, roles=[role])
    return httpx.Client(base_url=replicas.procs[i].url, timeout=30, verify=TLS,
                        headers={"Authorization": f"Bearer {token}"})


def _centre_and_case(replicas: Replicas) -> tuple[str, str]:
    with _client(replicas, 0, "prefecture_officer", PREF) as officer:
        r = officer.post("/v1/centres", json={"name": "攻撃検証センター", "kind": "adult", "prefecture": PREF})
        assert r.status_code == 201, r.text
        centre = r.json()["id"]
    with _client(replicas, 0, "centre_staff", centre) as staff:
        r = staff.post("/v1/cases", json={"centre_id": centre, "client_kind": "family", "age_group": "adult",
                                          "personal_details": {"name": "山田花子"}})
        assert r.status_code == 201, r.text
        return centre, r.json()["id"]


def test_writes_alternating_between_replicas_each_build_on_the_last(pair):
    replicas, _ = pair
    centre, case = _centre_and_case(replicas)
    a, b = _client(replicas, 0, "centre_staff", centre), _client(replicas, 1, "centre_staff", centre)
    with a, b:
        assert b.get(f"/v1/cases/{case}").status_code == 200  # B caches the case now
        version = a.get(f"/v1/cases/{case}").json()["version"]
        for n in range(8):  # each write with If-Match of the version the other replica just wrote
            via, other = (a, b) if n % 2 else (b, a)
            r = via.post(f"/v1/cases/{case}/consultations", json={"channel": "phone", "occurred_at": WHEN},
                         headers={"If-Match": f'"{version}"'})
            assert r.status_code == 201, (n, r.status_code, r.text)
            version = r.json()["case_version"]
            seen = other.get(f"/v1/cases/{case}").json()
            assert (seen["version"], seen["consultation_count"]) == (version, n + 1), n
        imported = a.post("/v1/consultation-imports", json={"consultations": [
            {"case_id": case, "channel": "phone", "occurred_at": WHEN}] * 3}, headers={"Idempotency-Key": "x-1"})
        assert imported.status_code == 201, imported.text
        assert b.get(f"/v1/cases/{case}").json()["consultation_count"] == 11
        assert b.get(f"/v1/cases/{case}/consultations").json()["count"] == 11
        retried = b.post("/v1/consultation-imports", json={"consultations": [
            {"case_id": case, "channel": "phone", "occurred_at": WHEN}] * 3}, headers={"Idempotency-Key": "x-1"})
        assert retried.status_code == 200 and [c["id"] for c in retried.json()["data"]] == [
            c["id"] for c in imported.json()["data"]]


def test_an_erasure_through_one_replica_is_seen_through_the_other(pair):
    replicas, _ = pair
    centre, case = _centre_and_case(replicas)
    a, b = _client(replicas, 0, "centre_staff", centre), _client(replicas, 1, "centre_staff", centre)
    with a, b:
        a.post(f"/v1/cases/{case}/consultations", json={"channel": "phone", "occurred_at": WHEN, "summary": "秘密"}
               ).raise_for_status()
        assert b.get(f"/v1/cases/{case}").json()["personal_details"] == {"name": "山田花子"}  # cached in B
        listed = b.get(f"/v1/cases/{case}/consultations").json()
        assert listed["data"][0]["summary"] == "秘密"
        r = a.post(f"/v1/cases/{case}/erasure", json={"on": "2016-06-01", "basis": "request_granted"})
        assert r.status_code == 200, r.text
        seen = b.get(f"/v1/cases/{case}").json()
        assert seen["personal_details"] == "[erased]", seen
        assert b.get(f"/v1/cases/{case}/consultations").json()["data"][0]["summary"] != "秘密"


def test_kill_9_of_a_replica_mid_imports_loses_and_duplicates_nothing(pair):
    replicas, nats_url = pair
    centre, case = _centre_and_case(replicas)
    stop = threading.Event()
    accepted: dict[str, list[str]] = {}
    failures: list[str] = []

    def importer(n: int) -> None:
        token = mint_token(replicas.secret, sub="attack", org=centre, roles=["centre_staff"])
        with httpx.Client(timeout=10, verify=TLS, headers={"Authorization": f"Bearer {token}"}) as http:
            while not stop.is_set():
                key = f"imp-{n}-{uuid.uuid4().hex[:8]}"
                body = {"consultations": [{"case_id": case, "channel": "phone", "occurred_at": WHEN,
                                           "summary": f"移行 {key} {k}"} for k in range(25)]}
                for attempt in range(60):
                    url = replicas.procs[(n + attempt) % 2].url
                    if not replicas.procs[(n + attempt) % 2].alive:
                        continue
                    try:
                        r = http.post(f"{url}/v1/consultation-imports", json=body, headers={"Idempotency-Key": key})
                    except httpx.TransportError:
                        continue
                    if r.status_code in (200, 201):
                        accepted[key] = [c["id"] for c in r.json()["data"]]
                        break
                    if r.status_code not in (409, 503, 429):
                        failures.append(f"{key}: {r.status_code} {r.text[:200]}")
                        break
                else:
                    failures.append(f"{key}: never accepted")

    threads = [threading.Thread(target=importer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    eventually(lambda: len(accepted) >= 6, timeout=60)
    replicas.procs[0].kill()  # kill -9, imports in flight
    eventually(lambda: len(accepted) >= 12, timeout=60)
    replicas.procs[0].start()
    replicas.procs[0].wait_healthy()
    eventually(lambda: len(accepted) >= 18, timeout=60)
    stop.set()
    for t in threads:
        t.join(60)
    assert failures == []
    with _client(replicas, 1, "centre_staff", centre) as b:
        listed = b.get(f"/v1/cases/{case}/consultations").json()
    ids = [c["id"] for c in listed["data"]]
    assert len(ids) == len(set(ids)) == 25 * len(accepted), (len(ids), len(accepted))
    assert set(ids) == {i for got in accepted.values() for i in got}
    found = check(replicas, nats_url, Tally(), final=False)
    assert found.lost == [] and found.duplicated == [], found
