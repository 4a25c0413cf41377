"""deploy/nats/accounts.conf attacked through the JetStream API, as each user of TSUNAGU (h-attack3):
what subject permissions cannot see is the body of an API request, so a consumer a user may make
could name a push delivery subject of its choosing. The server delivers a push consumer's messages
only to a subscription's interest (a stream capturing the subject, or the JetStream API, is none),
so a read-only user's consumer delivering into another service's event subjects, its checkpoint
subject or the API that purges and deletes streams writes nothing there. And every user is refused
what its lines do not name: another user's durable, another stream's consumers or messages, a
key-value or object store (a stream of its own), account info, and the system account's requests.
Held on merge-s30: no fix.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from libs.platform.messaging.bus import inbox_prefix
from soak.nats import USERS, LocalCluster
from tests.contract.test_nats_accounts import _cluster, _said

# Subjects a push consumer of a read-only user might deliver into, to write where it may not.
INTO = ("registry.130001.forged.Forged", "audit.registry.checkpoint", "$JS.API.STREAM.PURGE.REGISTRY",
        "$JS.API.STREAM.DELETE.REGISTRY", "deadletter.dispatch-registry")

# As each user: requests its lines do not name (each refused as a permissions violation).
REFUSED = {
    "intake": ("$JS.API.STREAM.CREATE.KV_probe", "$JS.API.STREAM.CREATE.OBJ_probe", "$JS.API.INFO",
               "$JS.API.STREAM.PURGE.INTAKE", "$JS.API.STREAM.MSG.DELETE.INTAKE", "$JS.API.STREAM.UPDATE.INTAKE",
               "$JS.API.STREAM.MSG.GET.REGISTRY", "$JS.API.CONSUMER.CREATE.INTAKE.probe",
               "$JS.API.STREAM.CREATE.REGISTRY", "$SYS.REQ.SERVER.PING"),
    "registry": ("$JS.API.STREAM.CREATE.KV_probe", "$JS.API.STREAM.DELETE.REGISTRY",
                 "$JS.API.STREAM.MSG.GET.INTAKE", "$JS.API.CONSUMER.CREATE.REGISTRY.probe", "$SYS.REQ.SERVER.PING"),
    "dispatch": ("$JS.API.STREAM.CREATE.KV_probe", "$JS.API.CONSUMER.CREATE.INTAKE.reporting-intake",
                 "$JS.API.CONSUMER.MSG.NEXT.INTAKE.integrator-intake", "$JS.API.CONSUMER.CREATE.AUDIT.probe",
                 "$JS.API.STREAM.PURGE.DISPATCH", "$JS.ACK.REGISTRY.reporting-registry.1.1.1.1.1",
                 "$JS.API.CONSUMER.CREATE.INTAKE.probe", "$SYS.REQ.SERVER.PING"),
    "reporting": ("$JS.API.STREAM.CREATE.KV_probe", "$JS.API.CONSUMER.CREATE.INTAKE.dispatch-intake",
                  "$JS.API.CONSUMER.CREATE.AUDIT.probe", "$JS.API.STREAM.CREATE.INTAKE",
                  "audit.intake.checkpoint", "deadletter.dispatch-intake", "$SYS.REQ.SERVER.PING"),
    "integrator": ("$JS.API.STREAM.CREATE.KV_probe", "$JS.API.STREAM.CREATE.OBJ_probe",
                   "$JS.API.CONSUMER.CREATE.INTAKE.dispatch-intake", "$JS.API.CONSUMER.CREATE.AUDIT.probe",
                   "$JS.API.STREAM.MSG.GET.INTAKE", "$JS.API.STREAM.PURGE.INTAKE", "$SYS.REQ.SERVER.PING"),
    "witness": ("$JS.API.STREAM.CREATE.KV_probe", "$JS.API.CONSUMER.CREATE.INTAKE.integrator-intake",
                "$JS.API.CONSUMER.DELETE.REGISTRY.dispatch-registry", "$JS.API.CONSUMER.CREATE.INTAKE.dispatch-intake",
                "$JS.API.STREAM.MSG.GET.AUDIT", "$JS.API.INFO", "$SYS.REQ.SERVER.PING"),
}


async def _connect(cluster: LocalCluster, user: str) -> tuple[nats.NATS, list[str]]:
    errors: list[str] = []

    async def on_error(e: Exception) -> None:
        errors.append(str(e).lower())

    url = cluster.url_for(user)
    nc = await nats.connect(servers=url.split(","), inbox_prefix=inbox_prefix(url), error_cb=on_error,
                            connect_timeout=2, allow_reconnect=False)
    return nc, errors


async def _count(js, stream: str) -> int:
    return (await js.stream_info(stream)).state.messages


async def _push_into_others(cluster: LocalCluster) -> None:
    owners = {u: await _connect(cluster, u) for u in ("intake", "registry")}
    # A stream's creation waits on the cluster's meta leader: past nats-py's 5 s on a busy CI machine.
    intake, registry = (owners[u][0].jetstream(timeout=30) for u in ("intake", "registry"))
    await intake.add_stream(StreamConfig(name="INTAKE", subjects=["intake.>"], num_replicas=1))
    await registry.add_stream(StreamConfig(name="REGISTRY", subjects=["registry.>"], num_replicas=1))
    await intake.publish("intake.130001.case.CaseOpened", b"an intake event")
    before = await _count(registry, "REGISTRY")
    # The witness's ephemerals, then the integrator's own durable (the only consumers it may make).
    for user, consumers in (("witness", [(f"probe{k}", None, subject) for k, subject in enumerate(INTO)]),
                            ("integrator", [("integrator-intake", "integrator-intake", INTO[0])])):
        nc, errors = await _connect(cluster, user)
        js = nc.jetstream()
        try:
            # Push delivery works for this user: into its own inbox, where it listens, made last.
            control = f"{inbox_prefix(cluster.url_for(user))}.push-probe"
            received = await nc.subscribe(control)
            for name, durable, subject in (*consumers, ("control", None, control)):
                await js.add_consumer("INTAKE", ConsumerConfig(
                    name=name, durable_name=durable, deliver_subject=subject,
                    deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE))
                if user == "integrator":
                    break  # its durable only: an ephemeral is not its to make
            if user == "witness":
                assert (await received.next_msg(timeout=30)).data == b"an intake event"  # pushes went out
            assert not [e for e in errors if "permissions violation" in e]
        finally:
            await nc.close()
    # The stream and its count are as they were: no forged copy, no purge, no delete.
    assert await _count(registry, "REGISTRY") == before
    assert await _count(intake, "INTAKE") == 1
    for nc, _errors in owners.values():
        await nc.close()


async def _refused(cluster: LocalCluster) -> None:
    for user, subjects in REFUSED.items():
        nc, errors = await _connect(cluster, user)
        try:
            for subject in subjects:
                await nc.publish(subject, b"{}")
                await _said(errors, f'publish to "{subject.lower()}"', user)
        finally:
            await nc.close()


def test_no_user_writes_or_reads_beyond_its_lines_through_the_jetstream_api(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(REFUSED) == set(USERS) - {"sys"}
    with _cluster(tmp_path, monkeypatch) as cluster:
        asyncio.run(_push_into_others(cluster))
        asyncio.run(_refused(cluster))
