"""deploy/ stays usable: its YAML parses, and the NATS cluster config really forms a cluster.

The cluster test starts the loopback variant (deploy/nats/local/node-{1,2,3}.conf, which include
the production accounts and permissions) as three nats-server processes, writes to an R3 stream,
lets a witness verify a signed log from the bus alone, loses a node and still writes and reads
everything; and each read-only user is refused what it must not do.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import nats
import pytest
import yaml
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import APIError

from libs.platform.messaging.bus import inbox_prefix
from soak.nats import USERS, LocalCluster

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
LOCAL = DEPLOY / "nats" / "local"
SERVICES = ("intake", "registry", "dispatch", "reporting")
PORTS = {"intake": 8001, "registry": 8002, "dispatch": 8003, "reporting": 8004}


# -- the files ------------------------------------------------------------------------------
def _documents(path: Path) -> list:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def test_every_yaml_file_parses_and_compose_names_the_services_and_three_nats_nodes():
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert DEPLOY / "compose.yaml" in files
    for path in files:
        assert _documents(path), f"{path} holds no YAML document"

    compose = _documents(DEPLOY / "compose.yaml")[0]
    services = compose["services"]
    assert set(SERVICES) | {"nats-1", "nats-2", "nats-3", "postgres"} <= set(services)
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["NATS_URL"].startswith(f"nats://{name}:"), "each service connects as its own user"
        assert env["TSUNAGU_ENV"] == "production"
    for n in (1, 2, 3):
        command = " ".join(services[f"nats-{n}"]["command"])
        assert f"cluster-{n}.conf" in command

    kinds = {(d["kind"], d["metadata"]["name"]) for p in (DEPLOY / "kubernetes").glob("*.yaml")
             for d in _documents(p) if "metadata" in d}  # not kustomization.yaml
    assert {("Deployment", s) for s in SERVICES} <= kinds
    assert {("Service", s) for s in SERVICES} <= kinds
    assert ("StatefulSet", "nats") in kinds


def test_every_service_runs_two_replicas_rolled_one_at_a_time_behind_a_proxy():
    """Kubernetes: 2 replicas, RollingUpdate that never goes below 2 ready, a PodDisruptionBudget,
    a preStop pause before SIGTERM, readiness on /readyz; compose: 2 replicas behind nginx, which
    sends to the other replica what one could not take. Both set TSUNAGU_REPLICAS (leases)."""
    compose = _documents(DEPLOY / "compose.yaml")[0]["services"]
    proxy = compose["proxy"]
    assert proxy["image"].startswith("nginx:") and "./proxy/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    nginx = (DEPLOY / "proxy" / "nginx.conf").read_text()
    assert "proxy_next_upstream error timeout http_502 http_503 non_idempotent;" in nginx
    for name in SERVICES:
        port = PORTS[name]
        service = compose[name]
        assert service["deploy"]["replicas"] == 2 and "ports" not in service, "only the proxy publishes ports"
        assert service["environment"]["TSUNAGU_REPLICAS"] == "2"
        assert f"{port}:{port}" in proxy["ports"]
        assert re.search(rf"upstream {name}\s+{{[^}}]*server {name}:{port} resolve", nginx), name
        assert f"listen {port}; location / {{ proxy_pass http://{name}; }}" in nginx

        documents = {d["kind"]: d for d in _documents(DEPLOY / "kubernetes" / f"{name}.yaml")}
        deployment = documents["Deployment"]["spec"]
        assert deployment["replicas"] >= 2
        assert deployment["strategy"] == {"type": "RollingUpdate",
                                          "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
        pdb = documents["PodDisruptionBudget"]["spec"]
        assert pdb["minAvailable"] == 1 and pdb["selector"]["matchLabels"] == deployment["selector"]["matchLabels"]
        container = deployment["template"]["spec"]["containers"][0]
        assert ("TSUNAGU_REPLICAS", "2") in _kubernetes_environment(name)
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        assert deployment["template"]["spec"]["terminationGracePeriodSeconds"] > 10


def _compose_environment(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in _documents(DEPLOY / "compose.yaml")[0]["services"][service]["environment"].items()}


def _kubernetes_environment(service: str) -> list[tuple[str, str | None]]:
    """The container's env in order (Kubernetes expands $(VAR) only from variables defined before)."""
    [deployment] = [d for d in _documents(DEPLOY / "kubernetes" / f"{service}.yaml") if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return [(e["name"], e.get("value")) for e in container["env"]]


def _kubernetes_nodes() -> list[str]:
    """Each NATS pod's name in the headless Service: <statefulset>-<ordinal>.<serviceName>."""
    [nats] = [d for d in _documents(DEPLOY / "kubernetes" / "nats.yaml") if d["kind"] == "StatefulSet"]
    return [f"{nats['metadata']['name']}-{i}.{nats['spec']['serviceName']}" for i in range(nats["spec"]["replicas"])]


def _assert_every_node(service: str, nats_url: str, nodes: list[str], password: str) -> None:
    urls = [urlparse(u.strip()) for u in nats_url.split(",")]
    hosts = sorted(u.hostname or "" for u in urls)
    assert hosts == sorted(nodes), f"{service}: NATS_URL must list every node: {nats_url}"
    for u in urls:  # the nodes advertise no addresses: each URL carries the service's own user
        assert (u.scheme, u.username, u.password, u.port) == ("nats", service, password, 4222), nats_url


def test_every_service_in_compose_and_kubernetes_gets_r3_streams_and_every_nats_node(monkeypatch):
    """The code reads NATS_STREAM_REPLICAS (libs/platform/messaging/bus.py) and a comma-separated NATS_URL:
    without them a deployment gets R1 streams, and a service on one node's name loses NATS with it."""
    from libs.platform.messaging.bus import Bus

    compose_nodes = [f"nats-{n}" for n in (1, 2, 3)]
    assert set(compose_nodes) <= set(_documents(DEPLOY / "compose.yaml")[0]["services"])
    kubernetes_nodes = _kubernetes_nodes()
    assert len(kubernetes_nodes) == 3
    for name in SERVICES:
        compose = _compose_environment(name)
        assert compose["NATS_STREAM_REPLICAS"] == "3", f"compose: {name}"
        _assert_every_node(name, compose["NATS_URL"], compose_nodes, f"${{{name.upper()}_NATS_PASSWORD}}")

        kubernetes = _kubernetes_environment(name)
        env = {n: v for n, v in kubernetes if v is not None}  # a variable from a secret has no value here
        assert env.get("NATS_STREAM_REPLICAS") == "3", f"kubernetes: {name}"
        _assert_every_node(name, env["NATS_URL"], kubernetes_nodes, "$(NATS_PASSWORD)")
        names = [n for n, _ in kubernetes]
        assert names.index("NATS_PASSWORD") < names.index("NATS_URL"), f"kubernetes: {name}: $(NATS_PASSWORD) undefined"

        for environment in (compose, env):  # what the code makes of them
            monkeypatch.setenv("NATS_STREAM_REPLICAS", environment["NATS_STREAM_REPLICAS"])
            assert Bus(environment["NATS_URL"], name=name).replicas == 3


def test_the_nats_configs_share_one_set_of_accounts_and_every_password_is_configurable():
    accounts = (DEPLOY / "nats" / "accounts.conf").read_text()
    for n in (1, 2, 3):
        assert "include ./accounts.conf" in (DEPLOY / "nats" / f"cluster-{n}.conf").read_text()
        assert "include ../accounts.conf" in (LOCAL / f"node-{n}.conf").read_text()
    # Kubernetes mounts a copy from its ConfigMap: it must be the same file.
    configmaps = [d for d in _documents(DEPLOY / "kubernetes" / "nats.yaml") if d["kind"] == "ConfigMap"]
    assert configmaps[0]["data"]["accounts.conf"].strip() == accounts.strip()

    variables = set(re.findall(r"password: \$(\w+)", accounts))
    assert variables == {f"{u.upper()}_NATS_PASSWORD" for u in USERS}
    example = (DEPLOY / ".env.example").read_text()
    secret = (DEPLOY / "kubernetes" / "secret.example.yaml").read_text()
    for variable in variables:
        assert re.search(rf"^{variable}=", example, re.M), f"{variable} missing in .env.example"
        assert variable in secret, f"{variable} missing in the Kubernetes Secret template"


def test_each_user_may_subscribe_to_its_own_inbox_prefix_only():
    """No `_INBOX.>` for anyone: user U subscribes to `_INBOX.U.>`, the prefix every client of
    ours connects with (Bus, replay, the integrator example), so no user reads another's replies."""
    accounts = (DEPLOY / "nats" / "accounts.conf").read_text()
    blocks = re.split(r"\buser: ", accounts)[1:]
    users = {b.split()[0].rstrip(","): b for b in blocks}
    assert set(users) == set(USERS)
    for user, block in users.items():
        if user == "sys":
            continue
        assert re.findall(r"subscribe: \{ allow: \[([^\]]*)\] \}", block) == [f'"_INBOX.{user}.>"'], user
        assert inbox_prefix(f"nats://{user}:pw@nats-1:4222,nats://{user}:pw@nats-2:4222") == f"_INBOX.{user}"
    assert inbox_prefix("nats://127.0.0.1:4222") == "_INBOX"  # a local server without users


def test_the_witness_may_touch_no_durable_of_another_user():
    """The witness's consumer rights are wildcards (ephemeral names are random); every durable
    another user is allowed must be in its deny list, or it could pull from, change or delete it."""
    accounts = (DEPLOY / "nats" / "accounts.conf").read_text()
    durables = set(re.findall(r'"\$JS\.ACK\.\w+\.([\w-]+)\.>"', accounts))
    assert {"dispatch-intake", "reporting-dispatch", "integrator-registry"} <= durables
    witness = accounts[accounts.index("user: witness"):]
    deny = witness[witness.index("deny: ["):witness.index("]", witness.index("deny: ["))]
    for durable in durables:
        for pattern in (f'"$JS.API.CONSUMER.*.*.{durable}"', f'"$JS.API.CONSUMER.*.*.{durable}.>"',
                        f'"$JS.API.CONSUMER.*.*.*.{durable}"'):
            assert pattern in deny, f"{pattern} missing in the witness's deny list"
    assert "$JS.ACK." not in witness[:witness.index("deny: [")], "the witness reads without acks"


# -- the loopback cluster ---------------------------------------------------------------------
@pytest.fixture
def local_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """The three processes of deploy/nats/local as committed, their ports moved to free ones for
    this run (so that two runs on one machine never collide), each with its own store and log:
    soak/nats.py's, which knows each node listens by its own ports file."""
    cluster = LocalCluster(tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()  # also when start() or the test failed half-way


def _urls(cluster: LocalCluster, user: str) -> list[str]:
    return cluster.url_for(user).split(",")


async def _connect(cluster: LocalCluster, user: str, errors: list[str] | None = None):
    async def on_error(e: Exception) -> None:
        if errors is not None:
            errors.append(str(e))

    return await nats.connect(
        servers=_urls(cluster, user), name=f"test-{user}", connect_timeout=2,
        inbox_prefix=inbox_prefix(_urls(cluster, user)[0]),
        reconnect_time_wait=0.1, max_reconnect_attempts=-1, error_cb=on_error,
    )


async def _retry(what: str, attempt, seconds: float):
    """Run attempt() until it succeeds: the cluster elects leaders for a few seconds."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await attempt()
        except (TimeoutError, APIError, nats.errors.Error) as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {seconds} s: {e!r}") from e
            await asyncio.sleep(0.25)


async def _read_all(sub, count: int, seconds: float = 45) -> list[int]:
    """Stream sequences of everything the consumer delivers until `count` distinct ones came.
    A fetch may time out while the consumer's leader settles: that is retried, not fatal."""
    seen: list[int] = []
    deadline = time.monotonic() + seconds
    while len(set(seen)) < count:
        try:
            msgs = await sub.fetch(count - len(set(seen)), timeout=2)
        except (TimeoutError, nats.errors.Error) as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"read {len(set(seen))} of {count} in {seconds} s: {e!r}") from e
            continue
        for msg in msgs:
            seen.append(msg.metadata.sequence.stream)
            await msg.ack()
    return seen


def _violations(errors: list[str]) -> list[str]:
    return [e for e in errors if "permissions violation" in e.lower()]


async def _refused(errors: list[str], subject: str) -> bool:
    """The server reports a denied publish asynchronously, through the error callback (nats-py
    lowercases the message, subject included)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if any(subject.lower() in e.lower() for e in _violations(errors)):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.mark.skipif(os.environ.get("TSUNAGU_TEST_DB") == "postgresql",
                    reason="no database involved: it runs once, in the SQLite pass of make test")
async def test_the_three_node_cluster_keeps_an_r3_stream_writable_and_readable_when_a_node_dies(
    local_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch,
):
    cluster = local_cluster
    errors: dict[str, list[str]] = {u: [] for u in ("intake", "registry", "reporting", "integrator", "witness")}
    clients = {u: await _connect(cluster, u, errors[u]) for u in errors}
    try:
        js = clients["intake"].jetstream(timeout=2)
        config = StreamConfig(
            name="INTAKE", subjects=["intake.>"], storage=StorageType.FILE, num_replicas=3,
            duplicate_window=600,
        )
        await _retry("creating the R3 stream", lambda: js.add_stream(config), 60)  # meta leader election

        for i in range(100):
            ack = await js.publish(f"intake.13100.case.CaseOpened.{i}", f"event {i}".encode(),
                                   headers={"Nats-Msg-Id": f"id-{i}"})
            assert ack.seq == i + 1 and not ack.duplicate
        again = await js.publish("intake.13100.case.CaseOpened.0", b"event 0",
                                 headers={"Nats-Msg-Id": "id-0"})
        assert again.duplicate is True and again.seq == 1

        info = await js.stream_info("INTAKE")
        assert info.state.messages == 100
        assert len(info.cluster.replicas) == 2, "R3: a leader and two replicas"
        await _no_user_reads_another_users_inbox(clients, errors)
        await _a_witness_verifies_a_signed_log_from_the_bus(cluster, clients["registry"])
        await _the_compose_environment_reaches_every_node_and_makes_r3_streams(cluster, monkeypatch)


        # Kill the stream's leader: the two others hold every acked message and elect a new one.
        leader = next(n for n, node in cluster.nodes.items() if node.name == info.cluster.leader)
        cluster.nodes[leader].kill()
        for i in range(100, 110):
            ack = await _retry(
                f"publishing after node-{leader} died",
                lambda i=i: js.publish(f"intake.13100.case.CaseOpened.{i}", f"event {i}".encode(),
                                       headers={"Nats-Msg-Id": f"id-{i}"}),
                45,
            )
            assert ack.seq == i + 1, "a retried publish is deduplicated, not stored twice"

        # A fresh durable of the consume-only reporting user reads everything, in order; so does
        # the integrator's own durable. (Created together: each R3 consumer elects its leader
        # among the two live nodes, which can take a raft election timeout, 4-9 s.)
        def durable(user: str):
            ujs = clients[user].jetstream(timeout=2)
            return _retry(
                f"creating the {user} durable",
                lambda: ujs.pull_subscribe("intake.>", durable=f"{user}-intake", stream="INTAKE"),
                45,
            )

        for sub in await asyncio.gather(durable("reporting"), durable("integrator")):
            first_deliveries = list(dict.fromkeys(await _read_all(sub, 110)))
            assert first_deliveries == list(range(1, 111)), "every message, in stream order"
        assert not [e for u in errors for e in _violations(errors[u])], errors

        # Neither may write: a forged event and a stream deletion are refused by the server.
        await clients["reporting"].publish("intake.13100.case.CaseOpened.forged", b"forged")
        assert await _refused(errors["reporting"], "intake.13100.case.CaseOpened.forged"), errors
        with pytest.raises(nats.errors.Error):  # the denied request gets no answer
            await clients["integrator"].jetstream(timeout=1).delete_stream("INTAKE")
        assert await _refused(errors["integrator"], "$JS.API.STREAM.DELETE.INTAKE")
        # Not even the owner may shrink, purge or delete its stream (issue 14: max_msgs=1 cut
        # INTAKE from 3 messages to 1): what it may do is create it when it is missing.
        shrunk = StreamConfig(name="INTAKE", subjects=["intake.>"], storage=StorageType.FILE, num_replicas=3,
                              duplicate_window=600, max_msgs=1)
        owner = clients["intake"].jetstream(timeout=1)
        for attempt, subject in ((lambda: owner.update_stream(shrunk), "$JS.API.STREAM.UPDATE.INTAKE"),
                                 (lambda: owner.purge_stream("INTAKE"), "$JS.API.STREAM.PURGE.INTAKE"),
                                 (lambda: owner.delete_stream("INTAKE"), "$JS.API.STREAM.DELETE.INTAKE")):
            with pytest.raises(nats.errors.Error):  # the denied request gets no answer
                await attempt()
            assert await _refused(errors["intake"], subject), errors["intake"]
        assert (await js.stream_info("INTAKE")).state.messages == 110

        # A consumer may not create a stream it only reads: only its owner creates it (issue 14).
        for subject in ("$JS.API.STREAM.CREATE.DISPATCH", "$JS.API.STREAM.CREATE.INTAKE"):
            await clients["reporting"].publish(subject, b"{}", reply=clients["reporting"].new_inbox())
            assert await _refused(errors["reporting"], subject), errors["reporting"]

        # The witness neither: no checkpoint of its own, no stream deletion, no service durable.
        witness = clients["witness"]
        await witness.publish("audit.intake.checkpoint", b"{}")
        assert await _refused(errors["witness"], "audit.intake.checkpoint"), errors
        for subject in ("$JS.API.STREAM.DELETE.AUDIT", "$JS.API.CONSUMER.MSG.NEXT.INTAKE.reporting-intake",
                        "$JS.API.CONSUMER.DELETE.INTAKE.reporting-intake"):
            await witness.publish(subject, b"", reply=witness.new_inbox())
            assert await _refused(errors["witness"], subject), errors
        kept = await clients["reporting"].jetstream(timeout=2).consumer_info("INTAKE", "reporting-intake")
        assert kept.num_pending == 0 and kept.delivered.stream_seq == 110, "the reporting durable is untouched"
    finally:
        for nc in clients.values():
            await nc.close()


async def _no_user_reads_another_users_inbox(clients: dict, errors: dict[str, list[str]]) -> None:
    """Replies come on `_INBOX.<user>.…` (Bus's inbox prefix): a user's own are allowed, another's
    and the old catch-all `_INBOX.>` are refused."""
    for user, nc in clients.items():
        assert nc.new_inbox().startswith(f"_INBOX.{user}.")
    registry = clients["registry"]
    for subject in ("_INBOX.intake.>", "_INBOX.>"):
        sub = await registry.subscribe(subject)
        await registry.flush()
        assert await _refused(errors["registry"], subject), f"registry may read {subject}"
        # Else the client subscribes again after a reconnect (the test kills a node later) and is
        # refused again: a refusal the test asked for, reported as a fault.
        await sub.unsubscribe()
    await registry.flush()
    errors["registry"].clear()  # those refusals were the point; any later one is a fault


async def _a_witness_verifies_a_signed_log_from_the_bus(cluster: LocalCluster, registry) -> None:
    """registry creates its stream and AUDIT as a service does (R3) and publishes a signed log; the
    witness verifies it from the bus alone, through the code of `tsunagu audit verify --nats`."""
    from libs.platform.audit.stream import verify_from_bus
    from libs.platform.audit.witness import publish_checkpoint
    from libs.platform.messaging.bus import Bus
    from libs.platform.messaging.replay import read_stream
    from libs.platform.messaging.streams import AUDIT_STREAM, STREAMS
    from tests.contract.signed_log import signed_log

    bus = Bus(cluster.url_for("registry"), "test-registry", replicas=3)
    await bus.connect()
    try:
        for spec in (STREAMS["registry"], AUDIT_STREAM):
            await _retry(f"creating {spec.name}", lambda spec=spec: bus.ensure_stream(spec), 60)
        envelopes, checkpoint, key = signed_log("registry", 5)
        for e in envelopes:
            await bus.js.publish(f"registry.{e.tenant}.witnessed.{e.name}", e.to_json(), headers={"Nats-Msg-Id": e.id})
        await publish_checkpoint(bus.js, "registry", key, checkpoint)
    finally:
        await bus.close()

    url = cluster.reader_url()
    report = await verify_from_bus(url, "REGISTRY", "registry", key)
    assert report.ok, report.problems
    assert (report.events, report.checkpoints, report.bus_messages) == (5, 1, 5)
    assert len(await read_stream(url, "INTAKE")) == 100, "tsunagu replay of a service stream"


async def _the_compose_environment_reaches_every_node_and_makes_r3_streams(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each service's NATS_URL in compose.yaml, its node names mapped to the loopback nodes, logs in
    as that service on every node it lists; a Bus built from dispatch's environment (its URL list
    and NATS_STREAM_REPLICAS) creates its stream with a replica on each node."""
    from libs.platform.messaging.bus import Bus
    from libs.platform.messaging.streams import STREAMS

    def local(service: str, environment: dict[str, str]) -> str:
        url = environment["NATS_URL"].replace(f"${{{service.upper()}_NATS_PASSWORD}}", cluster.passwords[service])
        for n, node in cluster.nodes.items():
            url = url.replace(f"@nats-{n}:4222", f"@127.0.0.1:{node.port}")
        return url

    for name in SERVICES:
        for node_url in local(name, _compose_environment(name)).split(","):
            nc = await nats.connect(node_url, connect_timeout=2, allow_reconnect=False, max_reconnect_attempts=0)
            await nc.close()
    environment = _compose_environment("dispatch")
    monkeypatch.setenv("NATS_STREAM_REPLICAS", environment["NATS_STREAM_REPLICAS"])
    bus = Bus(local("dispatch", environment), "test-dispatch")
    await bus.connect()
    try:
        await _retry("creating DISPATCH", lambda: bus.ensure_stream(STREAMS["dispatch"]), 60)
        info = await bus.js.stream_info("DISPATCH")
        assert info.config.num_replicas == 3 and info.cluster is not None, info
        assert info.cluster.replicas is not None and len(info.cluster.replicas) == 2, info
    finally:
        await bus.close()


def test_every_durable_a_service_creates_is_allowed_for_its_nats_user(database):
    """A new consumer (say, dispatch's deployment targets on INTAKE) without its permission would be
    refused in production only; the durable names come from the services' own wiring."""
    from libs.platform.runtime import build_runtime

    accounts = (DEPLOY / "nats" / "accounts.conf").read_text()
    for name in ("dispatch", "reporting"):
        spec = __import__(f"services.{name}.bootstrap", fromlist=["SPEC"]).SPEC
        runtime = build_runtime(spec, database.settings(name, "nats://127.0.0.1:1"))
        try:
            durables = {(c.spec.name, c.durable) for c in runtime.consumers}
            assert durables, name
            for stream, durable in durables:
                for allowed in (f'"$JS.API.CONSUMER.*.{stream}.{durable}"', f'"$JS.ACK.{stream}.{durable}.>"',
                                f'"deadletter.{durable}"'):
                    assert allowed in accounts, f"{name}: {allowed} missing in deploy/nats/accounts.conf"
            # Only a stream's owner creates it: a consumer waits for it (issue 14), so its user may
            # not create a stream it only consumes (it could do so first, with its own settings).
            user = accounts[accounts.index(f"user: {name}\n"):]
            user = user[:user.index("subscribe:")]
            for stream in {stream for stream, _ in durables}:
                assert f'"$JS.API.STREAM.INFO.{stream}"' in user, f"{name} cannot look for {stream}"
                assert f"$JS.API.STREAM.CREATE.{stream}" not in user, \
                    f"{name} may create {stream}, which it only consumes"
        finally:
            if runtime.application is not None:
                runtime.application.close()
            runtime.engine.dispose()


def test_every_publishing_service_may_do_what_its_relay_and_checkpoint_task_do():
    """The relay ensures and reads the tail of its stream; the checkpoint task writes AUDIT."""
    accounts = (DEPLOY / "nats" / "accounts.conf").read_text()
    for service in ("intake", "registry", "dispatch"):
        user = accounts[accounts.index(f"user: {service}\n"):]
        user = user[:user.index("subscribe:")]
        stream = service.upper()
        for subject in (f"{service}.>", f"$JS.API.STREAM.INFO.{stream}", f"$JS.API.STREAM.CREATE.{stream}",
                        f"$JS.API.STREAM.MSG.GET.{stream}", f"audit.{service}.checkpoint",
                        "$JS.API.STREAM.CREATE.AUDIT", "$JS.API.STREAM.MSG.GET.AUDIT"):
            assert f'"{subject}"' in user, f"{service} may not {subject}"
    # and nothing that changes a stream, for anyone (created when missing, never changed)
    for verb in ("UPDATE", "PURGE", "DELETE"):
        assert f"$JS.API.STREAM.{verb}" not in accounts
