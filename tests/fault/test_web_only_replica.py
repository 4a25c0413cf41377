"""A web-only replica (TSUNAGU_BACKGROUND=off) beside a worker replica of intake, two processes on
PostgreSQL with a real nats-server: the web replica serves HTTP and never holds a lease, the worker
runs every loop; a write on the web replica is relayed by the worker and read back through the web
replica (its catch_up waits for the worker's read models). When the worker stops, the web replica
stays ready (it still takes commands; deploy/README says why) and names in /readyz and /metrics
the roles that no replica runs; a worker started again takes them all and the reads come back."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from libs.platform.web.auth import mint_token
from soak.ha import Replicas, Tally, check, intake_pair
from tests.harness import TLS, backend, eventually

pytestmark = [pytest.mark.fault,
              pytest.mark.skipif(backend() != "postgresql", reason="replicas need PostgreSQL")]
WEB, WORKER = 0, 1
PREF = "130001"
WHEN = "2016-05-01T10:00:00+09:00"


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replicas, str]]:
    with intake_pair(tmp_path_factory.mktemp("web-only"), each_env=[{"TSUNAGU_BACKGROUND": "off"}, {}]) as pair:
        yield pair


def _client(replicas: Replicas, i: int, role: str, org: str) -> httpx.Client:
    token = mint_token(replicas.secret, sub="split", org=org, roles=[role])
    return httpx.Client(base_url=replicas.procs[i].url, timeout=30, verify=TLS,
                        headers={"Authorization": f"Bearer {token}"})


def _readyz(replicas: Replicas, i: int) -> httpx.Response:
    return httpx.get(f"{replicas.procs[i].url}/readyz", headers=replicas.operator(), timeout=5, verify=TLS)


def _lease_samples(replicas: Replicas, i: int, name: str) -> dict[str, float]:
    """role → value of the metric `name` on replica i's /metrics."""
    out = {}
    for line in httpx.get(f"{replicas.procs[i].url}/metrics", timeout=5, verify=TLS).text.splitlines():
        if line.startswith(name + "{"):
            labels = dict(part.split("=", 1) for part in line[len(name) + 1:line.index("}")].split(","))
            out[f"{labels['kind'].strip(chr(34))}:{labels['name'].strip(chr(34))}"] = float(line.rsplit(" ", 1)[1])
    return out


def _centre_and_case(replicas: Replicas) -> tuple[str, str]:
    with _client(replicas, WEB, "prefecture_officer", PREF) as officer:
        r = officer.post("/v1/centres", json={"name": "分離検証センター", "kind": "adult", "prefecture": PREF})
        assert r.status_code == 201, r.text
        centre = r.json()["id"]
    with _client(replicas, WEB, "centre_staff", centre) as staff:
        r = staff.post("/v1/cases", json={"centre_id": centre, "client_kind": "person", "age_group": "adult"})
        assert r.status_code == 201, r.text
        return centre, r.json()["id"]


def test_the_web_only_replica_holds_no_lease_while_the_worker_runs_every_loop(split):
    replicas, _ = split
    roles = replicas.roles()
    assert "relay:INTAKE" in roles and len(roles) > 3
    for role in roles:
        assert eventually(lambda r=role: replicas.holders(r) == [WORKER], timeout=20), role
    worker_id = _readyz(replicas, WORKER).json()["checks"]["replica"]

    def web_sees_the_worker() -> dict | None:
        r = _readyz(replicas, WEB)
        body = r.json()
        leased = [loop for loop in body["checks"]["loops"] if "lease" in loop]
        return body if r.status_code == 200 and all(loop["lease"]["holder"] == worker_id for loop in leased) else None

    body = eventually(web_sees_the_worker, timeout=20)
    assert body["status"] == "ready"
    assert (body["checks"]["background"], body["checks"]["leases_held"]) == ("off (web-only)", 0)
    assert "roles_without_holder" not in body["checks"]
    # Every leased loop stands by here; the heap trim is each process's own, so it runs here too.
    own = [loop for loop in body["checks"]["loops"] if "lease" not in loop]
    assert [(loop["kind"], loop["name"]) for loop in own] == [("job", "malloc-trim")], own
    for loop in body["checks"]["loops"]:
        if "lease" not in loop:
            continue
        assert loop["state"] == "standby", loop
        assert "TSUNAGU_BACKGROUND=off" in loop["lease"]["reason"], loop
        assert loop["lease"]["unheld_seconds"] == 0, loop
    assert set(_lease_samples(replicas, WEB, "tsunagu_lease_held").values()) == {0.0}
    assert set(_lease_samples(replicas, WEB, "tsunagu_lease_competing").values()) == {0.0}
    assert set(_lease_samples(replicas, WORKER, "tsunagu_lease_held").values()) == {1.0}
    assert set(_lease_samples(replicas, WORKER, "tsunagu_lease_competing").values()) == {1.0}
    assert "lease relay:INTAKE: taken by" not in replicas.procs[WEB].log_tail(200_000)


def test_a_write_on_the_web_replica_is_relayed_by_the_worker_and_read_back_through_the_web_replica(split):
    replicas, nats_url = split
    centre, case = _centre_and_case(replicas)
    with _client(replicas, WEB, "centre_staff", centre) as staff:
        for n in range(3):
            r = staff.post(f"/v1/cases/{case}/consultations", json={"channel": "phone", "occurred_at": WHEN})
            assert r.status_code == 201, (n, r.text)
            # A read model only the worker writes, read through the web replica: catch_up waits
            # until the worker has applied the log as far as it was at the read.
            workload = staff.get(f"/v1/centres/{centre}/workload", params={"fy": 2016})
            assert workload.status_code == 200, workload.text
            assert (workload.json()["consultations"], workload.json()["open_cases"]) == (n + 1, 1)
    found = check(replicas, nats_url, Tally(), timeout=30, final=False)  # every stored event on the stream once
    assert (found.lost, found.duplicated) == ([], [])
    assert found.published == found.stored >= 5


def test_with_the_worker_stopped_the_web_replica_stays_ready_names_the_roles_no_one_runs_and_recovers(split):
    replicas, _ = split
    centre, case = _centre_and_case(replicas)
    replicas.procs[WORKER].stop()  # SIGTERM: the worker lets its leases go; nobody takes them

    roles = set(replicas.roles())

    def unheld() -> dict | None:  # every role: the worker let each go as it stopped
        r = _readyz(replicas, WEB)
        return r.json() if set(r.json()["checks"].get("roles_without_holder", [])) == roles else None

    body = eventually(unheld, timeout=30)
    assert body["status"] == "ready"  # still serving: see deploy/README, Web and worker replicas
    # Past 2 leases of 2 s in /metrics too, which it reads at its own moment (CI: 4.0 at the first read).
    assert eventually(lambda: min(_lease_samples(replicas, WEB, "tsunagu_lease_unheld_seconds").values()) > 4)
    with _client(replicas, WEB, "centre_staff", centre) as staff:
        r = staff.post(f"/v1/cases/{case}/consultations", json={"channel": "phone", "occurred_at": WHEN})
        assert r.status_code == 201, r.text  # commands are taken and kept in the log
        read = staff.get(f"/v1/centres/{centre}/workload", params={"fy": 2016})
        assert read.status_code == 503, read.text  # no replica keeps the read model: at once, not a hang
        assert read.headers["content-type"].startswith("application/problem+json")
        assert read.json()["type"].endswith("read-model-behind") and read.headers["retry-after"] == "1"
        replicas.procs[WORKER].start()
        replicas.procs[WORKER].wait_healthy()
        for role in replicas.roles():
            replicas.wait_held(role, timeout=30)
        assert replicas.holders("relay:INTAKE") == [WORKER]
        read = eventually(lambda: (r := staff.get(f"/v1/centres/{centre}/workload", params={"fy": 2016}))
                          .status_code == 200 and r, timeout=30)
        assert read.json()["consultations"] == 1
    eventually(lambda: "roles_without_holder" not in _readyz(replicas, WEB).json()["checks"], timeout=20)


def test_nats_down_leaves_the_web_only_replica_ready_and_the_worker_unready(nats_server, start_service):
    """A web-only replica runs no relay, consumer or job, so it uses NATS for nothing: NATS down is
    no reason to take it out of the load balancer (it was). A worker replica, which does use it,
    goes unready as before."""
    web = start_service("intake", nats_server.url, replicas=2, lease_seconds=1.0, background=False)
    worker = start_service("intake", nats_server.url, replicas=2, lease_seconds=1.0)
    with web.operator() as web_ops, worker.operator() as worker_ops:
        eventually(lambda: web_ops.get("/readyz").json()["checks"]["nats"] == "ok")
        nats_server.stop()
        seen = eventually(lambda: (r := web_ops.get("/readyz")).json()["checks"]["nats"] != "ok" and r)
        assert seen.status_code == 200, seen.text
        unready = eventually(lambda: (r := worker_ops.get("/readyz")).status_code == 503 and r)
        assert "NATS unreachable" in unready.json()["detail"], unready.text
    nats_server.start()  # the fixture checks what the bus holds
