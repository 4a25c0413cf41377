"""deploy/nats/accounts.conf: no user may both subscribe to and publish on a service's event
subjects (`intake.>`, `registry.>`, `dispatch.>`), and only the service's own user (its relay)
publishes there. With both, someone sees a relay's atomic batch while the server stages it and
can copy or alter it before its commit (messaging/relay_order.py; h-attack2's
tests/fault/test_attack_relay_batch_copy.py). Proved on the file, then in the 3-node loopback
cluster that loads it (deploy/nats/local), where the four services, each as its own user, publish,
consume and checkpoint end to end, and the server refuses every user those subscriptions and
every other user those publishes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import contextmanager
from pathlib import Path

import nats
import pytest

from libs.platform.audit.witness import read_checkpoints
from libs.platform.messaging.bus import inbox_prefix
from soak.nats import USERS, LocalCluster
from tests.contract.test_deploy import DEPLOY
from tests.e2e.test_consultation_slice import _setup_case
from tests.e2e.test_dispatch_flow import CITY, DAY, rostered
from tests.fault.test_readiness import _ready
from tests.fault.test_relay_order_cluster import running_cluster
from tests.harness import eventually

PUBLISHERS = ("intake", "registry", "dispatch")  # the services with a stream of their own


def _permissions() -> dict[str, dict[str, list[str]]]:
    """Each user's allowed subjects, {"publish": [...], "subscribe": [...]}, as accounts.conf
    writes them (a user without a permissions block may do everything: none is allowed)."""
    accounts = (DEPLOY / "nats" / "accounts.conf").read_text()
    users = {}
    for block in re.split(r"\buser: ", accounts)[1:]:
        name = block.split()[0].rstrip(",")
        rights = {}
        for verb in ("publish", "subscribe"):
            found = re.search(verb + r": \{\s*allow: \[([^\]]*)\]", block)
            assert found, f"{name} has no {verb} allow list: it may {verb} anything"
            rights[verb] = re.findall(r'"([^"]+)"', found[1])
        users[name] = rights
    assert set(users) == set(USERS)
    return users


def _reaches(pattern: str, service: str) -> bool:
    """The subject pattern matches some event subject of `service` (<service>.<tenant>.…)."""
    return pattern.split(".", 1)[0] in (service, "*", ">")


def test_no_user_may_both_read_and_write_a_services_event_subjects_and_only_its_own_user_writes_them():
    for user, rights in _permissions().items():
        for service in PUBLISHERS:
            publishes = [p for p in rights["publish"] if _reaches(p, service)]
            subscribes = [p for p in rights["subscribe"] if _reaches(p, service)]
            assert not (publishes and subscribes), f"{user} may both publish and subscribe on {service}.>"
            assert not subscribes, f"{user} may subscribe to {subscribes}: it would see staged batches"
            assert publishes == ([f"{service}.>"] if user == service else []), f"{user} may publish on {publishes}"


@contextmanager
def _cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    yield from running_cluster(tmp_path, monkeypatch)


def test_each_service_works_end_to_end_as_its_own_user_and_the_server_refuses_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_service, caplog):
    caplog.set_level(logging.INFO, logger="libs.platform.messaging.bus")  # where a refusal is reported
    with _cluster(tmp_path, monkeypatch) as cluster:
        services = {name: start_service(name, cluster.url_for(name), audit_interval_seconds=1.0)
                    for name in ("registry", "dispatch", "intake", "reporting")}
        [sid] = rostered(services["registry"])
        centre_id, case_id = _setup_case(services["intake"])
        with services["intake"].client(role="centre_staff", org=centre_id) as staff:
            staff.post(f"/v1/cases/{case_id}/consultations", json={
                "channel": "phone", "occurred_at": "2016-07-01T10:00:00+09:00"}).raise_for_status()
            staff.post(f"/v1/cases/{case_id}/supporter-requests", json={
                "municipality": CITY, "needs": ["visit"], "requested_on": DAY}).raise_for_status()
        with services["dispatch"].client(role="municipal_officer", org=CITY) as city:  # REGISTRY and INTAKE read
            eventually(lambda: [e["supporter_id"] for e in city.get("/v1/roster").json()["data"]] == [sid], 60)
            eventually(lambda: city.get("/v1/dispatches", params={"status": "requested"}).json()["data"], 60)
        reporting = services["reporting"].runtime.consumers
        assert {c.spec.name for c in reporting} == {"INTAKE", "REGISTRY", "DISPATCH"}
        eventually(lambda: all(c.health.position > 0 and c.health.lag == 0 for c in reporting), 60)
        for service in services.values():
            eventually(lambda service=service: all(loop.lag == 0 and loop.failures == 0
                                                   for loop in service.runtime.loops()), 60)
            _ready(service)
        for service in PUBLISHERS:  # each checkpoints into AUDIT, which the witness reads
            eventually(lambda service=service: asyncio.run(read_checkpoints(cluster.reader_url(), service)), 60)
        assert not [r.getMessage() for r in caplog.records if "permissions violation" in r.getMessage().lower()]
        asyncio.run(_refused_everyone(cluster))


async def _refused_everyone(cluster: LocalCluster) -> None:
    """As every user: a subscription to each service's subjects (or to all) is refused, and so is a
    publish on them by any user but the service's own."""
    for user in USERS:
        errors: list[str] = []

        async def on_error(e: Exception, errors: list[str] = errors) -> None:
            errors.append(str(e).lower())

        url = cluster.url_for(user)
        nc = await nats.connect(servers=url.split(","), inbox_prefix=inbox_prefix(url), error_cb=on_error,
                                connect_timeout=2, allow_reconnect=False)
        try:
            for subject in (*(f"{s}.>" for s in PUBLISHERS), ">"):
                sub = await nc.subscribe(subject)
                await _said(errors, f'subscription to "{subject}"', user)
                await sub.unsubscribe()
            for service in PUBLISHERS:
                if service != user:
                    subject = f"{service}.130001.probe.Probe"
                    await nc.publish(subject, b"not the relay's")
                    await _said(errors, f'publish to "{subject.lower()}"', user)
            if user == "sys":  # what the system account is for still works
                assert (await nc.request("$SYS.REQ.SERVER.PING.VARZ", b"", timeout=5)).data
        finally:
            await nc.close()


async def _said(errors: list[str], what: str, user: str) -> None:
    """Wait until the server reported a permissions violation for `what` (nats-py: the error
    callback, lowercased)."""
    for _ in range(200):
        if any("permissions violation" in e and what in e for e in errors):
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{user}: no refusal of {what}; errors: {errors}")
