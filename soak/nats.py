"""The soak's own NATS: one nats-server, or the 3-node loopback cluster of deploy/nats/local with
its production accounts and permissions (ports moved to free ones, a password per user made for
the run). Never the machine's server on 4222."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from libs.platform.tools.natsserver import PORT_ATTEMPTS, free_port
from soak.processes import NatsNode, PortTaken

LOCAL = Path(__file__).resolve().parent.parent / "deploy" / "nats" / "local"
USERS = ("intake", "registry", "dispatch", "reporting", "integrator", "witness", "sys")


class _Nodes:
    """Start and stop of the nodes, the same for one node and for the cluster."""

    nodes: dict[int, NatsNode]

    def _place(self) -> None:
        """The nodes on ports picked now (their configs written), none started."""
        raise NotImplementedError

    def start(self) -> None:
        """Start every node on the ports placed. A port is picked before its node binds it, so
        another process may take it meanwhile, and a node that cannot bind one exits: then every
        node is stopped, its store emptied and all are placed on new ports and started again (a
        cluster's nodes name each other's route ports), PORT_ATTEMPTS times at most. A node
        started again later (a fault) keeps its ports: node.start()."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                for node in self.nodes.values():
                    node.start()
                return
            except PortTaken:
                self.stop()
                if attempt + 1 == PORT_ATTEMPTS:
                    raise
                for node in self.nodes.values():
                    shutil.rmtree(node.store_dir, ignore_errors=True)
                self._place()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


class SingleNats(_Nodes):
    """One node, no accounts: every service connects to the same URL (known once started)."""

    replicas = 1

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._place()

    def _place(self) -> None:
        port, store = free_port(), self.tmp / "nats-1"
        self.nodes = {1: NatsNode("nats-1", ["-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
                                  port, free_port(), store)}

    def url_for(self, user: str) -> str:
        return f"nats://127.0.0.1:{self.nodes[1].port}"

    def reader_url(self) -> str:
        return self.url_for("witness")

    def wait_ready(self, timeout: float = 30) -> None:
        _wait_js(self.nodes.values(), timeout)


class LocalCluster(_Nodes):
    """deploy/nats/local/node-{1,2,3}.conf as committed, on free ports, each node its own store.
    Its URLs are known once started (a port taken meanwhile moves the whole cluster: _Nodes.start)."""

    replicas = 3

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp / "cluster"
        self.passwords = {u: secrets.token_hex(16) for u in USERS}
        (self.tmp / "local").mkdir(parents=True)
        (self.tmp / "accounts.conf").write_text((LOCAL.parent / "accounts.conf").read_text())
        self._env = {**os.environ, **{f"{u.upper()}_NATS_PASSWORD": p for u, p in self.passwords.items()}}
        self._place()

    def _place(self) -> None:
        mapping = {}
        for n in (1, 2, 3):
            mapping[str(14220 + n)] = str(free_port())
            mapping[str(16220 + n)] = str(free_port())
        self.nodes: dict[int, NatsNode] = {}
        for n in (1, 2, 3):
            # One pass, whole numbers only: a new port may look like an old one.
            conf = re.sub(r"\b(1[46]22[123])\b", lambda m: mapping[m.group(1)], (LOCAL / f"node-{n}.conf").read_text())
            path = self.tmp / "local" / f"node-{n}.conf"
            path.write_text(conf)
            store = self.tmp / f"node-{n}"
            self.nodes[n] = NatsNode(f"node-{n}", ["-c", str(path)], int(mapping[str(14220 + n)]), free_port(),
                                     store, {**self._env, "NATS_STORE_DIR": str(store)})

    def url_for(self, user: str) -> str:
        """Every node's URL with the user's credentials: a client fails over by itself."""
        return ",".join(f"nats://{user}:{self.passwords[user]}@127.0.0.1:{node.port}" for node in self.nodes.values())

    def reader_url(self) -> str:
        """The read-only witness on a live node (replay.read_stream takes one URL)."""
        node = next(node for node in self.nodes.values() if node.alive)
        return f"nats://witness:{self.passwords['witness']}@127.0.0.1:{node.port}"

    def meta_leader(self) -> int:
        """The node that leads the JetStream meta group (it places streams and consumers)."""
        for node in self.nodes.values():
            if not node.alive:
                continue
            leader = node.monitor("/jsz").get("meta_cluster", {}).get("leader")
            if leader:
                return int(leader.rsplit("-", 1)[1])
        raise RuntimeError("no JetStream meta leader")

    def stream_leader(self, stream: str) -> int | None:
        for node in self.nodes.values():
            if not node.alive:
                continue
            jsz = node.monitor("/jsz?accounts=true&streams=true")
            for account in jsz.get("account_details", []):
                for s in account.get("stream_detail", []):
                    if s["name"] == stream and s.get("cluster", {}).get("leader"):
                        return int(s["cluster"]["leader"].rsplit("-", 1)[1])
        return None

    def wait_ready(self, timeout: float = 60) -> None:
        _wait_js(self.nodes.values(), timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.meta_leader()
                return
            except (RuntimeError, OSError):
                time.sleep(0.2)
        raise RuntimeError("the cluster elected no meta leader")


def _wait_js(nodes: Iterable[NatsNode], timeout: float) -> None:
    """Every live node says JetStream is healthy (/healthz?js-enabled-only=true answers ok)."""
    deadline = time.monotonic() + timeout
    for node in nodes:
        while node.alive:
            try:
                if node.monitor("/healthz?js-enabled-only=true").get("status") == "ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name}: JetStream not healthy in {timeout:.0f} s")
            time.sleep(0.1)
