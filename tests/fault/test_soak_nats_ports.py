"""The soak's nats-server nodes (soak/nats.py) know they listen by their own ports files, not by an
answer on their ports: a port picked before its node binds it can be taken by another process's
server by then (test processes side by side). The single node and the whole cluster (whose nodes
name each other's route ports) are then placed on new ports and started again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from libs.platform.tools.natsserver import EmbeddedNats
from soak.nats import LocalCluster, SingleNats

pytestmark = pytest.mark.fault


@contextmanager
def _squatting(tmp_path: Path, port: int) -> Iterator[None]:
    """Another's nats-server on `port`."""
    squatter = EmbeddedNats(tmp_path / "squatter", port=port)
    squatter.start()
    try:
        yield
    finally:
        squatter.stop()


def _ours(nodes: SingleNats | LocalCluster, taken: int) -> None:
    """Every node runs, on ports other than `taken`, and its client port is its own."""
    for node in nodes.nodes.values():
        assert node.alive, node.log_tail()
        assert taken not in (node.port, node.monitor_port)
        assert node.monitor("/varz")["port"] == node.port


def test_a_single_node_whose_picked_port_another_holds_starts_on_another(tmp_path: Path) -> None:
    nats = SingleNats(tmp_path)
    taken = nats.nodes[1].port
    with _squatting(tmp_path, taken):
        try:
            nats.start()
            nats.wait_ready()
            _ours(nats, taken)
            assert f":{taken}" not in nats.url_for("intake")
        finally:
            nats.stop()


def test_a_cluster_one_of_whose_picked_ports_another_holds_starts_whole_on_others(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path)
    taken = cluster.nodes[3].port  # the last node's: the first two had started on the old routes
    with _squatting(tmp_path, taken):
        try:
            cluster.start()
            cluster.wait_ready()  # a meta leader: the three found each other on their new routes
            _ours(cluster, taken)
            assert all(node.starts == 1 for node in cluster.nodes.values())
            node = cluster.nodes[cluster.meta_leader()]
            assert len(node.monitor("/routez")["routes"]) >= 2
        finally:
            cluster.stop()
