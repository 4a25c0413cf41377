"""The load: concurrent portal clients, each with its own cases, training course, supporter and
dispatch, posting a mix of commands (consultations mostly) to all three writing services.

The driver hands out commands up to a limit the soak moves segment by segment, and can be paused:
`pause()` returns once every client has finished the command in hand (retries included).
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from soak.commands import send
from soak.flows import ClientState, Portal, setup_client, setup_shared

# What a client posts, by weight: 延べ相談件数 is what the ministry counts.
# Each is a method of ClientState that makes the command.
MIX = (("consultation", 80), ("case", 5), ("activity", 5), ("dispatch", 4), ("registry_step", 6))


class Driver:
    def __init__(self, portal: Portal, *, clients: int, seed: int, deadline_s: float = 120) -> None:
        self.portal = portal
        self.ledger = portal.ledger
        self.deadline_s = deadline_s
        self.random = random.Random(seed)
        self.states: list[ClientState] = []
        self.clients = clients
        self.segment = "setup"
        self.issued = 0
        self.limit = 0
        self.running = False
        self.busy = 0
        self.stop = threading.Event()
        self.cond = threading.Condition()
        self.threads: list[threading.Thread] = []

    # -- set-up and threads ---------------------------------------------------------------
    def setup(self) -> None:
        shared = setup_shared(self.portal, self.clients)
        seeds = [self.random.random() for _ in range(self.clients)]
        with ThreadPoolExecutor(self.clients) as pool:  # each waits for its roster to travel over NATS
            self.states = list(pool.map(lambda n: setup_client(self.portal, shared, n, random.Random(seeds[n])),
                                        range(self.clients)))
        self.threads = [threading.Thread(target=self._client, args=(state,), name=f"soak-client-{state.n}", daemon=True)
                        for state in self.states]
        for t in self.threads:
            t.start()

    def close(self) -> None:
        self.stop.set()
        with self.cond:
            self.cond.notify_all()
        for t in self.threads:
            t.join(timeout=self.deadline_s + 10)
        self.portal.close()

    # -- pacing -----------------------------------------------------------------------------
    def run_to(self, total: int) -> None:
        """Let the clients go on until `total` commands have been handed out."""
        with self.cond:
            self.limit, self.running = total, True
            self.cond.notify_all()

    def wait_issued(self, count: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.issued < min(count, self.limit) and time.monotonic() < deadline:
                self.cond.wait(0.2)

    def pause(self) -> None:
        with self.cond:
            self.running = False
            while self.busy:
                self.cond.wait(0.2)

    def _take(self) -> bool:
        with self.cond:
            while not self.stop.is_set() and not (self.running and self.issued < self.limit):
                self.cond.wait(0.2)
            if self.stop.is_set():
                return False
            self.issued += 1
            self.busy += 1
            return True

    def _release(self) -> None:
        with self.cond:
            self.busy -= 1
            self.cond.notify_all()

    def _client(self, state: ClientState) -> None:
        kinds, weights = zip(*MIX, strict=True)
        while self._take():
            try:
                kind = state.random.choices(kinds, weights)[0]
                command = getattr(state, kind)()
                command.segment = self.segment
                self.ledger.add(command)
                send(command, self.ledger, deadline_s=self.deadline_s, stop=self.stop)
                state.after(command)
            except Exception as e:  # noqa: BLE001 - a driver bug must not stop the other clients
                self.ledger.retried(f"driver error {type(e).__name__}: {e}", self.segment)
            finally:
                self._release()

    def resend_unresolved(self) -> int:
        """Commands that ran out of time (the system was down that long) are sent again: their
        keys make that safe. Returns how many are still unresolved."""
        left = 0
        for command in self.ledger.of("unresolved"):
            send(command, self.ledger, deadline_s=self.deadline_s)
            left += command.status == "unresolved"
        return left

