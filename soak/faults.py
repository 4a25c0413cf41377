"""The faults, each injected while the clients post commands. A fault returns once it is healed
(the process started again, resumed, the node back): recovery is measured from then."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from soak.system import System


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[System, float], str]  # (system, seconds the fault lasts) → what was done


def kill_service(name: str) -> Fault:
    def inject(system: System, seconds: float) -> str:
        service = system.services[name]
        service.kill()
        time.sleep(seconds)
        service.start()
        return f"pid {service.proc.pid} after {seconds:.0f} s down"

    return Fault(f"kill -9 {name}", inject)


def pause_service(name: str) -> Fault:
    def inject(system: System, seconds: float) -> str:
        service = system.services[name]
        service.pause()
        time.sleep(seconds)
        service.resume()
        return f"SIGSTOP {seconds:.0f} s"

    return Fault(f"SIGSTOP {name}", inject)


def kill_nats() -> Fault:
    def inject(system: System, seconds: float) -> str:
        node = system.nats.nodes[1]
        node.kill()
        time.sleep(seconds)
        node.start()
        return f"down {seconds:.0f} s, same store"

    return Fault("kill -9 nats-server", inject)


def drop_connections() -> Fault:
    def inject(system: System, seconds: float) -> str:
        ended, deadline = 0, time.monotonic() + seconds
        while True:  # again and again: a pool that reconnects at once loses the new ones too
            ended += system.terminate_connections()
            if time.monotonic() >= deadline:
                return f"{ended} backends terminated over {seconds:.0f} s"
            time.sleep(0.5)

    return Fault("pg_terminate_backend", inject)


def kill_node(*, meta_leader: bool) -> Fault:
    def inject(system: System, seconds: float) -> str:
        cluster = system.nats
        leader = cluster.meta_leader()
        if meta_leader:
            victim = leader
        else:  # a node that leads a stream but not the meta group, so that a stream elects again
            led = [cluster.stream_leader(s) for s in ("INTAKE", "REGISTRY", "DISPATCH")]
            victim = next((n for n in led if n and n != leader), next(n for n in cluster.nodes if n != leader))
        node = cluster.nodes[victim]
        node.kill()
        time.sleep(seconds)
        node.start()
        cluster.wait_ready()
        after = cluster.meta_leader()
        return f"node-{victim} (meta leader node-{leader}, then node-{after}), down {seconds:.0f} s"

    return Fault("kill -9 meta leader" if meta_leader else "kill -9 a node", inject)


def none() -> Fault:
    return Fault("none (steady load)", lambda system, seconds: "")


SINGLE = [none(), *(kill_service(s) for s in ("intake", "registry", "dispatch", "reporting")), kill_nats(),
          drop_connections(), pause_service("intake"), pause_service("reporting")]
CLUSTER = [none(), kill_node(meta_leader=False), kill_node(meta_leader=True)]
