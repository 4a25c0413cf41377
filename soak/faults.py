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
    # (system, seconds the fault lasts) → (what was done, time.monotonic() when it was healed)
    inject: Callable[[System, float], tuple[str, float]]


def kill_service(name: str) -> Fault:
    def inject(system: System, seconds: float) -> tuple[str, float]:
        service = system.services[name]
        service.kill()
        time.sleep(seconds)
        service.start()
        healed = time.monotonic()
        up = service.wait_healthy()
        return f"down {seconds:.0f} s; /healthz {up:.1f} s after the restart", healed

    return Fault(f"kill -9 {name}", inject)


def kill_services(names: tuple[str, ...]) -> Fault:
    """Every service at once: one restart instead of four (the CI size)."""
    def inject(system: System, seconds: float) -> tuple[str, float]:
        for name in names:
            system.services[name].kill()
        time.sleep(seconds)
        for name in names:
            system.services[name].start()
        healed = time.monotonic()
        up = max(system.services[name].wait_healthy() for name in names)
        return f"down {seconds:.0f} s; all /healthz {up:.1f} s after the restart", healed

    return Fault("kill -9 all " + str(len(names)) + " services", inject)


def pause_service(name: str) -> Fault:
    def inject(system: System, seconds: float) -> tuple[str, float]:
        # Longer than a client's timeout (10 s) in the full size: requests in flight time out and
        # are sent again while the first attempt still waits in the stopped process.
        seconds *= 3
        service = system.services[name]
        service.pause()
        time.sleep(seconds)
        service.resume()
        return f"stopped {seconds:.0f} s", time.monotonic()

    return Fault(f"SIGSTOP {name}", inject)


def kill_nats() -> Fault:
    def inject(system: System, seconds: float) -> tuple[str, float]:
        node = system.nats.nodes[1]
        node.kill()
        time.sleep(seconds)
        node.start()
        return f"down {seconds:.0f} s, same store dir", time.monotonic()

    return Fault("kill -9 nats-server", inject)


def drop_connections() -> Fault:
    def inject(system: System, seconds: float) -> tuple[str, float]:
        ended, deadline = 0, time.monotonic() + seconds
        while True:  # again and again: a pool that reconnects at once loses the new ones too
            ended += system.terminate_connections()
            if time.monotonic() >= deadline:
                return f"{ended} backends terminated over {seconds:.0f} s", time.monotonic()
            time.sleep(0.5)

    return Fault("pg_terminate_backend", inject)


def kill_node(*, meta_leader: bool) -> Fault:
    def inject(system: System, seconds: float) -> tuple[str, float]:
        cluster = system.nats
        leader = cluster.meta_leader()
        streams = ("INTAKE", "REGISTRY", "DISPATCH")
        if meta_leader:
            victim, led = leader, []
        else:  # a node leading streams but not the meta group: those streams elect again
            leaders = {s: cluster.stream_leader(s) for s in streams}
            victim = next((n for n in leaders.values() if n and n != leader),
                          next(n for n in cluster.nodes if n != leader))
            led = [s for s, n in leaders.items() if n == victim]
        node = cluster.nodes[victim]
        node.kill()
        killed = time.monotonic()
        time.sleep(seconds)
        elected = _wait(lambda: cluster.meta_leader() != victim if meta_leader else
                        all(cluster.stream_leader(s) not in (None, victim) for s in led), 60)
        try:  # who took over, asked before the victim is back
            now = f"node-{cluster.meta_leader()}" if meta_leader else ", ".join(
                f"{s} node-{cluster.stream_leader(s)}" for s in led)
        except (OSError, RuntimeError):
            now = "?"
        node.start()
        healed = time.monotonic()
        cluster.wait_ready()
        what = "meta leader" if meta_leader else f"leader of {', '.join(led) or 'no stream'}"
        election = f"new leader after {elected - killed:.1f} s ({now})" if elected else "NO new leader in 60 s"
        return f"node-{victim} ({what}) down {healed - killed:.0f} s, {election}, restarted", healed

    return Fault("kill -9 meta leader" if meta_leader else "kill -9 a stream leader", inject)


def _wait(condition: Callable[[], bool], timeout: float) -> float | None:
    """time.monotonic() when condition() first held, None if it did not within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return time.monotonic()
        except (OSError, RuntimeError):  # a node that is going away answers nothing
            pass
        time.sleep(0.2)
    return None


def none() -> Fault:
    return Fault("none (steady load)", lambda system, seconds: ("", time.monotonic()))


SERVICES = ("intake", "registry", "dispatch", "reporting")
SINGLE = [none(), *(kill_service(s) for s in SERVICES), kill_nats(), drop_connections(), pause_service("intake"),
          pause_service("reporting")]
CLUSTER = [none(), kill_node(meta_leader=False), kill_node(meta_leader=True)]
# The CI size: one of each kind, the four services killed together (one restart, not four).
SHORT_SINGLE = [kill_services(SERVICES), kill_nats(), drop_connections(), pause_service("dispatch")]
SHORT_CLUSTER = [kill_node(meta_leader=False), kill_node(meta_leader=True)]
