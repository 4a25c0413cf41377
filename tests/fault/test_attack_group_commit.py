"""Attack (h-attack on merge-s28): group commit (store/group_commit.py). 16 clients post consultations to
intake at once, a mix a portal vendor's fleet would send: keys shared by four clients (the same body, as
a retrying fleet sends it), keys of their own, a stale If-Match, a case that was erased, one oversize
summary (an event over the store's limit, so a group holding it fails and runs again alone). Meanwhile a
killer terminates (pg_terminate_backend) intake's active backends at random moments (PostgreSQL; on
SQLite, h-http3, the same fleet without a killer). Held when: no 500, no request hangs (each has its
timeout; a group member never woken is a failure), a stale If-Match gets 412, the erased case 410, each
key exactly one consultation whatever client sent it, every answer of a key names the same id, the case
counts every key once, and the stream holds the log once in order (nothing doubled or lost on NATS)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.test_consultation_slice import _setup_case
from tests.harness import POSTGRES_URL, assert_stream_is_the_log_once, backend

pytestmark = pytest.mark.fault
CLIENTS, PER_CLIENT = 16, 12
WHEN = "2016-07-01T10:00:00+09:00"
KILL = text("SELECT left(query, 40), pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name "
            "AND state = 'active' AND query LIKE :query")
# Where the killer strikes: anything active; the LOCK's query (the group's events ride in it). A
# statement carrying a COMMIT is test_attack_riding_commit's target (h-attack: 41-57 kills a run caught
# a COMMIT and none reached a client as an error: PostgreSQL answered the commit before the backend died).
TARGETS = {"any": ("%", 0.03), "lock": ("%LOCK TABLE%", 0.005)}


def _killer(name: str, target: str, stop: threading.Event, kills: list[str]) -> None:
    query, pause = TARGETS[target]
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    rnd = random.Random(7)
    try:
        with engine.connect() as conn:
            while not stop.is_set():
                kills += [q for q, _ in conn.execute(KILL, {"name": name, "query": query}).all()]
                time.sleep(rnd.uniform(0, pause))  # let some groups through between the kills
    finally:
        engine.dispose()


def _second_case(intake, centre_id: str) -> str:
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post("/v1/cases", json={"centre_id": centre_id, "client_kind": "family", "age_group": "adult",
                                          "personal_details": {"name": "佐藤花子", "address": "東京都港区2-2"}})
        assert r.status_code == 201, r.text
        return r.json()["id"]


@pytest.mark.skipif(backend() != "postgresql", reason="the killer ends PostgreSQL backends")
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_group_commit_under_backend_kills_answers_every_client_right(nats_server, start_service, target):
    name = f"tsunagu-group-{uuid.uuid4().hex[:8]}"
    intake = start_service("intake", nats_server.url, database_url=f"{POSTGRES_URL}?application_name={name}")
    stop, kills = threading.Event(), list[str]()
    killer = threading.Thread(target=_killer, args=(name, target, stop, kills))

    def killer_stopped() -> None:  # the clients are answered: the checks read with the killer gone
        stop.set()
        if killer.is_alive():
            killer.join(timeout=30)

    try:
        statuses = fleet(intake, nats_server.url, killer.start, killer_stopped)
    finally:
        killer_stopped()
    groups = getattr(intake.runtime.application.recorder, "group", None)
    print(f"kills: {Counter(kills).most_common(4)}; answers: {len(statuses)}; 503s: {statuses.count(503)}; "
          f"statuses: {sorted(set(statuses))}; groups: {getattr(groups, 'groups', '?')}")


@pytest.mark.skipif(backend() != "sqlite", reason="on PostgreSQL: the test above, with its killer")
def test_group_commit_on_sqlite_answers_every_client_right(nats_server, start_service):
    intake = start_service("intake", nats_server.url)
    statuses = fleet(intake, nats_server.url, lambda: None)
    print(f"answers: {len(statuses)}; statuses: {sorted(set(statuses))}; "
          f"groups: {intake.runtime.application.recorder.group.groups}")


def fleet(intake, nats_url: str, go: Callable[[], None], settled: Callable[[], None] = lambda: None) -> list[int]:
    """The clients' mix (the module's) sent to `intake` once `go()` has run, and every check of
    the answers, the cases and the stream (after `settled()`: the checks' own reads are not the
    fault's target); returns every status answered."""
    centre_id, case_id = _setup_case(intake)
    cases = [case_id] + [_second_case(intake, centre_id) for _ in range(3)]
    erased = _second_case(intake, centre_id)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        r = staff.post(f"/v1/cases/{erased}/erasure", json={"on": "2016-06-01", "basis": "request_granted"})
        assert r.status_code < 300, r.text
    answered: dict[str, set[str]] = {}
    key_case: dict[str, str] = {}
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for n, case in enumerate(cases):  # every case past version 1: If-Match "1" is stale from the start
            r = staff.post(f"/v1/cases/{case}/consultations", headers={"Idempotency-Key": f"first {n}"},
                           json={"channel": "phone", "occurred_at": WHEN})
            assert r.status_code == 201, r.text
            answered[f"first {n}"], key_case[f"first {n}"] = {r.json()["id"]}, case
    wrong: list[tuple[str, int, str]] = []
    statuses: list[int] = []

    def send(staff, path: str, body: dict, headers: dict) -> int:
        for _ in range(40):
            try:
                r = staff.post(path, json=body, headers=headers, timeout=120)
            except Exception as e:  # noqa: BLE001 - a hang (timeout) or a dropped connection is a finding
                wrong.append((path, -1, repr(e)))
                return -1
            statuses.append(r.status_code)
            if r.status_code != 503:
                if r.status_code in (200, 201) and "Idempotency-Key" in headers:
                    answered.setdefault(headers["Idempotency-Key"], set()).add(r.json()["id"])
                return r.status_code
        return 503

    def client(c: int) -> None:
        with intake.client(role="centre_staff", org=centre_id) as staff:
            for k in range(PER_CLIENT):
                kind = k % 6
                target = cases[(c + k) % len(cases)]
                body = {"channel": "phone", "occurred_at": WHEN, "summary": f"相談 {c}.{k}"}
                if kind in (0, 1, 2):  # a key four clients send, the same body
                    key = f"shared {k}.{c % 4}"
                    target = cases[(k + c % 4) % len(cases)]
                    body["summary"] = f"相談 {key}"
                    key_case[key] = target
                    got = send(staff, f"/v1/cases/{target}/consultations", body, {"Idempotency-Key": key})
                    if got not in (200, 201):
                        wrong.append((key, got, "shared key"))
                elif kind == 3:  # a stale If-Match
                    got = send(staff, f"/v1/cases/{target}/consultations", body, {"If-Match": '"1"'})
                    if got != 412:
                        wrong.append((f"stale {c}.{k}", got, "If-Match"))
                elif kind == 4:  # the erased case
                    got = send(staff, f"/v1/cases/{erased}/consultations", body, {"Idempotency-Key": f"erased {c}.{k}"})
                    if got != 410:
                        wrong.append((f"erased {c}.{k}", got, "erased"))
                elif c == 0 and k == 5:  # one oversize summary (an event over the store's limit)
                    body["summary"] = "x" * (300 * 1024)
                    got = send(staff, f"/v1/cases/{target}/consultations", body, {"Idempotency-Key": "oversize"})
                    if got in (200, 201) or got >= 500 or got < 0:
                        wrong.append(("oversize", got, "oversize"))
                else:  # a key of its own
                    key = f"own {c}.{k}"
                    key_case[key] = target
                    got = send(staff, f"/v1/cases/{target}/consultations", body, {"Idempotency-Key": key})
                    if got not in (200, 201):
                        wrong.append((key, got, "own key"))

    go()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for f in [pool.submit(client, c) for c in range(CLIENTS)]:
            f.result(timeout=600)
    settled()
    print(f"statuses: {Counter(statuses)}")
    assert 500 not in statuses, [s for s in statuses if s >= 500]
    assert not wrong, wrong[:20]
    assert all(len(ids) == 1 for ids in answered.values()), {k: v for k, v in answered.items() if len(v) > 1}
    assert set(answered) == set(key_case)
    with intake.client(role="centre_staff", org=centre_id) as staff:
        for case in cases:
            want = sum(1 for k, c in key_case.items() if c == case)
            got = staff.get(f"/v1/cases/{case}").json()["consultation_count"]
            assert got == want, (case, got, want)
        ids = [c["id"] for case in cases
               for c in staff.get(f"/v1/cases/{case}/consultations", params={"limit": 200}).json()["data"]]
    assert sorted(ids) == sorted(i for v in answered.values() for i in v)
    assert_stream_is_the_log_once(intake, nats_url)
    return statuses
