"""A dead letter survives a restart: readiness reports it until an operator resolves it."""

from __future__ import annotations

import asyncio

import nats
import pytest

from libs.platform.messaging.signing import HEADER, EventSigner
from tests.harness import eventually, provision_streams

pytestmark = pytest.mark.fault


def _publish_poison(url: str, intake_key: str) -> None:
    """Signed by intake (it passes the signature check) and still not a CloudEvent."""
    async def go() -> None:
        nc = await nats.connect(url)
        body = b"not a CloudEvent"
        await nc.jetstream().publish("intake.130001.probe.Probe", body,
                                     headers={HEADER: EventSigner(intake_key).header(body)})
        await nc.close()

    asyncio.run(go())


def test_a_dead_letter_keeps_the_service_unready_across_a_restart_until_resolved(nats_server, start_service,
                                                                                 database):
    provision_streams(nats_server.url)  # no producer runs here
    reporting = start_service("reporting", nats_server.url)
    with reporting.client() as anyone:
        eventually(lambda: anyone.get("/readyz").status_code == 200)  # its consumers are made
    _publish_poison(nats_server.url, database.signing_keys["intake"])
    with reporting.operator() as operator:
        r = eventually(lambda: (r := operator.get("/readyz")).status_code == 503 and r)
        assert r.json()["checks"]["dead_lettered"] == 1
    reporting.stop()
    reporting.start()
    with reporting.operator() as operator:
        r = eventually(lambda: (r := operator.get("/readyz")).json()["checks"].get("nats") == "ok" and r)
        assert r.status_code == 503 and r.json()["checks"]["dead_lettered"] == 1
    with reporting.client(role="ministry", org="mhlw") as ministry:
        assert ministry.get("/v1/ops/dead-letters").status_code == 403
    with reporting.client(role="operator", org="ops") as operator:
        letters = operator.get("/v1/ops/dead-letters").json()["data"]
        assert [(d["consumer"], d["stream"], d["position"]) for d in letters] == [("reporting-intake", "INTAKE", 1)]
        assert "invalid envelope" in letters[0]["reason"]
        r = operator.post("/v1/ops/dead-letters/reporting-intake/INTAKE/1/resolution")
        assert r.status_code == 200 and r.json()["data"] == []
        assert operator.post("/v1/ops/dead-letters/reporting-intake/INTAKE/1/resolution").status_code == 404
        assert operator.get("/v1/ops/dead-letters", params={"open_only": False}).json()["data"][0]["resolved_by"]
    with reporting.client() as anyone:
        assert anyone.get("/readyz").status_code == 200
