"""The OS processes of a soak: services under uvicorn and nats-server nodes, each of which can be
killed with SIGKILL, paused with SIGSTOP and started again on the same port and data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx

from libs.platform.http import tls
from libs.platform.tools.natsserver import binary, wait_listening


class PortTaken(RuntimeError):
    """A nats-server exited at its start because a port it was given was taken meanwhile."""


class Process:
    """One child process, its log appended to across restarts."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def _spawn(self, args: list[str], env: dict[str, str]) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"\n----- soak: start {self.name} ({self.starts + 1}) at {time.strftime('%X')}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # a Ctrl-C of the soak is ours to pass on
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown hook, no flush, no goodbye to NATS or PostgreSQL."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if not self.alive:
            return
        self.proc.send_signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class ServiceProcess(Process):
    """`python -m uvicorn services.<name>.bootstrap:create_app` on a fixed loopback port."""

    def __init__(self, name: str, port: int, env: dict[str, str], log_path: Path) -> None:
        super().__init__(name, log_path)
        self.port = port
        self.env = env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._spawn([sys.executable, "-m", "uvicorn", "--factory", f"services.{self.name}.bootstrap:create_app",
                     "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"], self.env)

    def wait_healthy(self, timeout: float = 90) -> float:
        """Seconds until /healthz answered (the app's lifespan has run)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2, verify=tls()).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /healthz in {timeout:.0f} s:\n{self.log_tail()}")


class NatsNode(Process):
    """One nats-server: JetStream with its own store dir, client port and monitoring port."""

    def __init__(self, name: str, args: list[str], port: int, monitor_port: int, store_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(name, store_dir.parent / f"{name}.log")
        self.args = args
        self.port = port
        self.monitor_port = monitor_port
        self.store_dir = store_dir
        self.env = env or dict(os.environ)

    def start(self, timeout: float = 20) -> None:
        """Start it and wait until it listens: known by the ports file it writes once it has bound
        its ports (not by an answer on its port: another process's server may hold that one).
        PortTaken if it exited because one of its ports was taken."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._spawn([binary(), *self.args, "-m", str(self.monitor_port), "--ports_file_dir", str(self.store_dir)],
                    self.env)
        try:
            listening = wait_listening(self.proc, self.store_dir, timeout)
        except RuntimeError as e:
            self.kill()
            raise RuntimeError(f"{self.name}: {e}:\n{self.log_tail()}") from e
        if not listening:
            taken = "address already in use" in self.log_tail()
            raise (PortTaken if taken else RuntimeError)(
                f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")

    def monitor(self, path: str, timeout: float = 2) -> dict:
        """A monitoring endpoint (/jsz, /varz, /healthz?js-enabled-only=true) as JSON."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}{path}", timeout=timeout) as r:
            return json.loads(r.read())
