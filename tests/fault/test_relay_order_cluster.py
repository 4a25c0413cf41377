"""The relay's order on a replicated stream (R3, DESIGN §2): the 3-node loopback cluster of
deploy/nats/local (soak/nats.py), the node the relay's client is connected to killed (SIGKILL) inside
a batch of 500 and restarted. As on one server (test_relay_order.py), what nats-py had written to
the socket is lost with the node while what it still buffered reaches the node it reconnects to
first: on main's relay, which sent no order header to an R3 stream, the stream held 1-3, 203-503,
4-202, 504-1503. Each publish now expects the stream sequence of the one before it, which the
stream's leader checks before replicating (messaging/relay_order.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import nats.errors
import pytest

from libs.platform.messaging.cloudevents import Envelope
from libs.platform.messaging.replay import read_stream
from soak.nats import LocalCluster
from tests.fault.test_attack_relay_kills import _runs
from tests.fault.test_relay_order import IMPORTS, ITEMS, _backlog, _kill_inside_batches
from tests.harness import eventually, log_positions

pytestmark = pytest.mark.fault


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCluster]:
    """A 3-node cluster; the services started meanwhile make their streams R3."""
    yield from running_cluster(tmp_path, monkeypatch)


def running_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    prepare: Callable[[LocalCluster], object] = lambda nodes: None) -> Iterator[LocalCluster]:
    """The cluster fixture's body; prepare(nodes) before the nodes start (e.g. edits their accounts)."""
    monkeypatch.setenv("NATS_STREAM_REPLICAS", "3")
    nodes = LocalCluster(tmp_path)
    prepare(nodes)
    try:
        nodes.start()
        nodes.wait_ready()
        yield nodes
    finally:
        nodes.stop()


def _client_node(cluster: LocalCluster, relay) -> int:
    port = relay.bus.client.connected_url.port
    return next(n for n, node in cluster.nodes.items() if node.port == port)


def _stream_positions(cluster: LocalCluster, timeout: float = 60) -> list[int]:
    """The log positions of INTAKE's messages in stream order; the read is tried again while the
    cluster, a node just restarted, cannot yet make its consumer (a request timing out)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            messages = asyncio.run(read_stream(cluster.reader_url(), "INTAKE"))
            return [Envelope.from_json(m).sequence for m in messages]
        except (TimeoutError, nats.errors.Error):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_the_relays_node_killed_inside_batches_keeps_an_r3_stream_in_log_order(cluster, start_service):
    intake = start_service("intake", cluster.url_for("intake"))
    relay = intake.runtime.relay
    relay.batch_size, relay.ack_timeout = 500, 2.0
    eventually(lambda: relay.bus.connected and relay.health.failures == 0, timeout=60)
    gate = _backlog(intake)
    killed_nodes: list[int] = []

    def kill() -> None:
        n = _client_node(cluster, relay)
        killed_nodes.append(n)
        cluster.nodes[n].kill()

    kills = _kill_inside_batches(relay, kill, (200, 900))
    gate.set()
    for k, killed in enumerate(kills):
        eventually(lambda killed=killed: killed.is_set() or relay.lag() == 0, timeout=90)
        if not killed.is_set():
            assert killed is not kills[0], "caught up before the first kill"
            break
        time.sleep(0.3)
        # The node this kill took (the next kill may have come meanwhile: restarting the last one
        # killed twice left a nats-server running after the test, the first one never restarted).
        cluster.nodes[killed_nodes[k]].start()
    eventually(lambda: relay.lag() == 0, timeout=120)
    stream = _stream_positions(cluster)
    log = log_positions(intake)
    assert len(log) >= IMPORTS * ITEMS
    assert stream == log, f"stream order {_runs(stream)} vs log {_runs(log)}"
